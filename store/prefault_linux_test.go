//go:build linux

package store

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"
	"unsafe"

	blocks "github.com/ipfs/go-block-format"
	"golang.org/x/sys/unix"
)

// residentAhead reports how many bytes of the newest value-log file's
// page cache are present past offset from, probed through a mapping of
// its own.
func residentAhead(t *testing.T, s *Store, from int64) int64 {
	t.Helper()
	path := s.realDir + "/" + vlogName(s.pre.newestVlog())
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer unix.Close(fd)
	const span = 256 << 20
	m, err := unix.Mmap(fd, 0, span, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap %s: %v", path, err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, span/4096)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), span, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	var n int64
	for i := from / 4096; i < int64(len(vec)); i++ {
		n += int64(vec[i] & 1)
	}
	return n * 4096
}

func TestPrefaultPlacesPagesAhead(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n, size = 16, 1 << 20
	var put []blocks.Block
	for range n {
		b := make([]byte, size)
		rand.Read(b)
		blk := blocks.NewBlock(b)
		put = append(put, blk)
		if err := s.PutMany(t.Context(), []blocks.Block{blk}); err != nil {
			t.Fatal(err)
		}
	}
	// The prefaulter runs on its own goroutine; wait a bounded while.
	written := int64(n*size + 64<<10)
	var got int64
	for range 100 {
		if got = residentAhead(t, s, written); got >= prefaultAhead/2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got < prefaultAhead/2 {
		t.Errorf("resident bytes past the writer = %d, want >= %d", got, prefaultAhead/2)
	}
	// Placing pages changes no byte.
	for _, want := range put {
		b, err := s.Get(t.Context(), want.Cid())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.RawData(), want.RawData()) {
			t.Fatalf("Get(%s) differs from what was put", want.Cid())
		}
	}
}
