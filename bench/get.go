package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// runGet measures what a user sees, on three daemons of one host: the
// origin holds one file of -size random bytes; `cairn get --out` of it on
// the second daemon (one peer, end to end as typed), beside the fetch
// alone (the daemon's "pulled" line) and one sha256 pass over the same
// bytes in memory (the reference); then, with the second daemon stopped,
// a Hugging Face download of the file from the third daemon, which does
// not hold it (pull-through): time to the first byte and to the last,
// beside the `cairn get` time. With -runs N, N daemons in turn each get
// the file from the origin (each stopped after its run, so every get has
// one source) and the best run is printed too: on a loaded machine the
// best of a few is the figure that says what the code does.
func runGet(ctx context.Context, args []string) error {
	f := swarmFlags{}
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	size := fs.String("size", "512MiB", "bytes of the file")
	runs := fs.Int("runs", 1, "gets, each by a fresh daemon")
	fs.StringVar(&f.bin, "bin", "", "cairn binary (default: built from this tree)")
	fs.BoolVar(&f.keep, "keep", false, "keep the work folder")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after")
	fs.StringVar(&f.originDir, "origin-dir", "", "put the origin's home below this folder, on another file system than the getter's (e.g. /dev/shm), as when they are two machines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if f.size, err = parseSize(*size); err != nil {
		return err
	}
	if *runs < 1 || *runs > 20 {
		return errors.New("get: -runs must be 1 to 20")
	}
	f.nodes = *runs + 2
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	sw, err := newSwarm(ctx, f)
	if err != nil {
		return err
	}
	defer sw.close()
	if err := sw.setup(ctx); err != nil {
		return err
	}
	if err := sw.start(ctx); err != nil {
		return err
	}
	src := filepath.Join(sw.dir, "src", dataFile)
	sha256Pass(src) // warms the page cache for the reference
	var best getRun
	for i := 1; i <= *runs; i++ {
		r, err := sw.getRun(ctx, src, i)
		if err != nil {
			return err
		}
		r.print("get:")
		if i == 1 || r.ratio() > best.ratio() {
			best = r
		}
		// The next daemon must fetch from the origin alone.
		sw.stop(i)
	}
	if *runs > 1 {
		best.print(fmt.Sprintf("best of %d:", *runs))
	}
	get := best.get
	first, whole, err := sw.hfDownload(ctx, *runs+1)
	if err != nil {
		return err
	}
	fmt.Printf("hf pull-through: size %s  first byte %.3fs  whole file %.2fs  (%.2fx the cairn get of %.2fs)\n",
		humanBytes(f.size), first.Seconds(), whole.Seconds(), get.Seconds()/whole.Seconds(), get.Seconds())
	return nil
}

// getRun is one `cairn get --out` beside the sha256 reference measured
// right before it.
type getRun struct {
	size            int64
	ref, get, fetch time.Duration
	// disk is diskPass measured right before the get (0 where direct I/O
	// is refused); diskRef says what it moved.
	disk    time.Duration
	diskRef string
	// diskRead and diskWritten are what the disk holding the daemons'
	// homes read and wrote during the get (-1 where unknown).
	diskRead, diskWritten int64
	// refCPU is the reference pass's CPU time; srcCPU and dstCPU are the
	// CPU times of the origin's and the getting daemon's processes during
	// the get (0 where /proc cannot say).
	refCPU, srcCPU, dstCPU time.Duration
	srcSys, dstSys         time.Duration // the kernel's part of srcCPU, dstCPU
	// srcFaults and dstFaults are the processes' minor page faults
	// during the get: every fresh page of memory costs one.
	srcFaults, dstFaults int64
}

func (r getRun) ratio() float64 { return r.ref.Seconds() / r.get.Seconds() }

func (r getRun) print(label string) {
	fmt.Printf("%s size %s  sha256 pass %.2fs  cairn get --out %.2fs (%.2fx sha256)  fetch only %.2fs (%.2fx sha256)\n",
		label, humanBytes(r.size), r.ref.Seconds(), r.get.Seconds(), r.ratio(), r.fetch.Seconds(), r.ref.Seconds()/r.fetch.Seconds())
	if r.refCPU > 0 && r.srcCPU+r.dstCPU > 0 {
		pad := strings.Repeat(" ", len(label))
		passes := (r.srcCPU + r.dstCPU).Seconds() / r.refCPU.Seconds()
		fmt.Printf("%s CPU origin %.2fs (kernel %.2fs) + getter %.2fs (kernel %.2fs) = %.1f sha256 passes (one pass %.2fs of CPU); page faults %d MiB + %d MiB\n",
			pad, r.srcCPU.Seconds(), r.srcSys.Seconds(), r.dstCPU.Seconds(), r.dstSys.Seconds(), passes, r.refCPU.Seconds(),
			r.srcFaults*int64(os.Getpagesize())>>20, r.dstFaults*int64(os.Getpagesize())>>20)
		// Both daemons share the machine's cores: with n of them the get
		// takes at least its CPU over n, however well its stages overlap.
		n := runtime.NumCPU()
		fmt.Printf("%s with this CPU on %d cores: at most %.2fx sha256\n", pad, n, float64(n)/passes)
	}
	if r.diskRead >= 0 {
		fmt.Printf("%s the disk read %d MiB and wrote %d MiB during the get\n", strings.Repeat(" ", len(label)), r.diskRead>>20, r.diskWritten>>20)
	}
	if r.disk > 0 {
		fmt.Printf("%s disk: %s of %s at once (what the get moves through the getter's disk) %.2fs = at most %.2fx sha256; the get took %.2fx that\n",
			strings.Repeat(" ", len(label)), r.diskRef, humanBytes(r.size), r.disk.Seconds(), r.ref.Seconds()/r.disk.Seconds(), r.get.Seconds()/r.disk.Seconds())
	}
}

// getRun measures the references, one sha256 pass over src from the page
// cache and the disk's part (diskPass), then the get on daemon i.
func (sw *swarm) getRun(ctx context.Context, src string, i int) (getRun, error) {
	r := getRun{size: sw.f.size}
	var err error
	if r.ref, _, err = sha256Pass(src); err != nil {
		return r, err
	}
	r.refCPU = lastSHACPU
	shared := sw.f.originDir == ""
	r.diskRef = "two direct writes"
	if shared {
		r.diskRef = "a direct read and two direct writes"
	}
	if d, err := diskPass(src, shared, sw.dir); err == nil {
		r.disk = d
	} else {
		fmt.Fprintf(os.Stderr, "get: no disk reference: %v\n", err)
	}
	sp, dp := sw.daems[0].Process.Pid, sw.daems[i].Process.Pid
	src0 := procCPU(sp)
	dst0 := procCPU(dp)
	r.get, r.fetch, err = sw.getOne(ctx, i, &r)
	if src0.ok && dst0.ok {
		src1, dst1 := procCPU(sp), procCPU(dp)
		r.srcCPU, r.dstCPU = src1.user+src1.sys-src0.user-src0.sys, dst1.user+dst1.sys-dst0.user-dst0.sys
		r.srcSys, r.dstSys = src1.sys-src0.sys, dst1.sys-dst0.sys
		r.srcFaults, r.dstFaults = src1.faults-src0.faults, dst1.faults-dst0.faults
	}
	return r, err
}

// procStat is what /proc says of a process: user and system CPU time so
// far and minor page faults; ok is false where it cannot be read.
type procStat struct {
	user, sys time.Duration
	faults    int64
	ok        bool
}

// procCPU reads process pid's procStat (CPU times come in USER_HZ ticks,
// 100 a second on Linux).
func procCPU(pid int) procStat {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis start with field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return procStat{}
	}
	var v [3]int64
	for j, k := range []int{7, 11, 12} { // minflt, utime, stime
		if v[j], err = strconv.ParseInt(f[k], 10, 64); err != nil {
			return procStat{}
		}
	}
	const tick = time.Second / 100
	return procStat{user: time.Duration(v[1]) * tick, sys: time.Duration(v[2]) * tick, faults: v[0], ok: true}
}

var pulledSeconds = regexp.MustCompile(`msg=pulled .*seconds=([0-9.e+-]+)`)

// getOne runs `cairn get --out` on daemon i, checks the output and
// returns its time and the fetch's (from the daemon's log); it notes in r
// what the disk moved during the get.
func (sw *swarm) getOne(ctx context.Context, i int, r *getRun) (get, fetch time.Duration, err error) {
	home := sw.homes[i]
	out := home + ".out"
	r.diskRead, r.diskWritten = -1, -1
	dr, dw, dok := diskBytes(sw.dir)
	t0 := time.Now()
	if _, err := sw.cairn(ctx, home, "get", "acme/swarm", "--out", out); err != nil {
		return 0, 0, err
	}
	get = time.Since(t0)
	if dr1, dw1, ok := diskBytes(sw.dir); ok && dok {
		r.diskRead, r.diskWritten = dr1-dr, dw1-dw
	}
	if err := checkSum(filepath.Join(out, dataFile), sw.sum); err != nil {
		return 0, 0, err
	}
	log, err := os.ReadFile(home + ".log")
	if err != nil {
		return 0, 0, err
	}
	m := pulledSeconds.FindSubmatch(log)
	if m == nil {
		return 0, 0, errors.New("the daemon's log has no pulled line")
	}
	s, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, 0, err
	}
	return get, time.Duration(s * float64(time.Second)), nil
}

// stop ends daemon i.
func (sw *swarm) stop(i int) {
	c := sw.daems[i]
	c.Process.Signal(os.Interrupt)
	c.Wait()
}

// hfDownload downloads the file over daemon i's Hugging Face API into
// memory, as a huggingface_hub client streams it (which does not hash
// what it downloads: the etag is the sha256 the server states), and checks
// its sha256 once the timing is done. The buffer's pages are touched
// before the request, so that the client's own page faults are not timed.
func (sw *swarm) hfDownload(ctx context.Context, i int) (first, whole time.Duration, err error) {
	body := make([]byte, sw.f.size)
	for p := 0; p < len(body); p += os.Getpagesize() {
		body[p] = 1
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+sw.http[i]+"/acme/swarm/resolve/main/"+dataFile, nil)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("hf download: %s", resp.Status)
	}
	n, err := resp.Body.Read(body)
	first = time.Since(t0)
	if err == nil {
		var m int
		m, err = io.ReadFull(resp.Body, body[n:])
		n += m
	}
	whole = time.Since(t0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, err
	}
	if extra, _ := resp.Body.Read(make([]byte, 1)); extra != 0 || int64(n) != sw.f.size {
		return 0, 0, fmt.Errorf("hf download: %d bytes or more, want %d", n+extra, sw.f.size)
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != sw.sum {
		return 0, 0, fmt.Errorf("hf download: sha256 %s, want %s", got, sw.sum)
	}
	return first, whole, nil
}
