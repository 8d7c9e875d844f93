//go:build linux

package store

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// prefaultAhead is how far ahead of badger's value-log writer the
// prefaulter places pages: a few batches of 1 MiB blocks, and well inside
// Options.MinFreeBytes (the pages it places take disk blocks).
var prefaultAhead int64 = 32 << 20

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14). Older kernels
// refuse it with EINVAL and the prefaulter then does nothing.
const madvPopulateWrite = 23

// prefaulter write-faults the stretch of the newest value-log file's
// mapping just ahead of badger's writer, on its own goroutine, so that the
// kernel's page placement (allocating and zeroing page-cache pages, the
// file system's block reservation) overlaps the writer's copy instead of
// happening inside it (see "Memory and speed" in doc.go).
//
// It never changes a byte: MADV_POPULATE_WRITE simulates a write fault
// without writing, so whatever the range holds (zeros of badger's sparse,
// pre-sized file) stays. A fault it cannot serve (a page past a file badger
// just truncated, a full disk) is an error from madvise, not SIGBUS, and
// ends the step. The writer's offset is estimated from the bytes PutMany
// hands badger since the newest file appeared (badger starts a new file on
// every open); a wrong guess costs time, never data. mapMu held shared
// keeps releaseMapped from running during a step (the writer may still
// remap the file meanwhile: populating an address that no longer maps the
// file is equally harmless).
type prefaulter struct {
	dir   string
	mapMu *sync.RWMutex
	kick  chan struct{}
	stop  chan struct{}
	done  chan struct{}

	written atomic.Int64 // value bytes announced to the writer, all files

	fid  int
	base int64 // written when fid became the newest file
	upto int64 // file offset populated up to
}

func startPrefaulter(dir string, mapMu *sync.RWMutex) *prefaulter {
	p := &prefaulter{dir: dir, mapMu: mapMu, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), fid: -1}
	go p.run()
	return p
}

// poke announces n value bytes about to be written and asks for a step
// without waiting for it.
func (p *prefaulter) poke(n int64) {
	if p == nil {
		return
	}
	p.written.Add(n)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *prefaulter) close() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}

func (p *prefaulter) run() {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		case <-p.kick:
		}
		p.step()
	}
}

// newestVlog returns the id of the highest-numbered value-log file, the
// one badger writes, or -1.
func (p *prefaulter) newestVlog() int {
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		return -1
	}
	best := -1
	for _, e := range ents {
		num, ok := strings.CutSuffix(e.Name(), ".vlog")
		if !ok {
			continue
		}
		if id, err := strconv.Atoi(num); err == nil && id > best {
			best = id
		}
	}
	return best
}

// mapped returns the address and length of this process's mapping of
// path, or zeros. path must be absolute with symlinks resolved.
func mapped(path string) (uintptr, uintptr) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		line := sc.Bytes()
		slash := bytes.IndexByte(line, '/')
		if slash < 0 || string(line[slash:]) != path {
			continue
		}
		addr, _, _ := bytes.Cut(line, []byte{' '})
		lo, hi, _ := bytes.Cut(addr, []byte{'-'})
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return 0, 0
		}
		return uintptr(start), uintptr(end - start)
	}
	return 0, 0
}

func (p *prefaulter) step() {
	fid := p.newestVlog()
	if fid < 0 {
		return
	}
	w := p.written.Load()
	if fid != p.fid {
		p.fid, p.base, p.upto = fid, w, 0
	}
	const vlogHeader = 20 // badger's vlogHeaderSize
	frontier := vlogHeader + w - p.base
	target := frontier + prefaultAhead
	from := max(frontier&^(4<<10-1), p.upto)
	if from >= target {
		return
	}
	p.mapMu.RLock()
	defer p.mapMu.RUnlock()
	addr, size := mapped(filepath.Join(p.dir, vlogName(fid)))
	if size == 0 {
		return
	}
	target = min(target, int64(size))
	const chunk = 2 << 20
	for off := from; off < target; off += chunk {
		select {
		case <-p.stop:
			return
		default:
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr+uintptr(off), uintptr(min(chunk, target-off)), madvPopulateWrite); errno != 0 {
			return
		}
		p.upto = off + min(chunk, target-off)
	}
}

// vlogName is badger's name of value-log file fid.
func vlogName(fid int) string {
	s := strconv.Itoa(fid)
	for len(s) < 6 {
		s = "0" + s
	}
	return s + ".vlog"
}
