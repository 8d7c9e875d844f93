package direct

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's struct iocb and struct io_event, as its ABI fixes them.
var (
	_ [64 - unsafe.Sizeof(iocb{})]byte
	_ [unsafe.Sizeof(iocb{}) - 64]byte
	_ [32 - unsafe.Sizeof(ioEvent{})]byte
	_ [unsafe.Sizeof(ioEvent{}) - 32]byte
)

// directFile writes n bytes of seed to a file in a temp dir and opens it
// for direct reads (skipping where the file system refuses O_DIRECT).
func directFile(t *testing.T, n int) (*os.File, []byte) {
	t.Helper()
	want := data(3, n)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Skipf("no direct I/O on %s: %v", filepath.Dir(path), err)
	}
	t.Cleanup(func() { f.Close() })
	return f, want
}

// TestAIOReadsAt: many aligned reads at once through one AIO, of
// several sizes and offsets, each with the file's bytes; a read past the
// end gives what is there and io.EOF; after Close reads still work (with
// pread), and so do a nil AIO's.
func TestAIOReadsAt(t *testing.T) {
	const size = 8 * mib
	f, want := directFile(t, size)
	r, err := NewAIO(16)
	if err != nil {
		t.Fatalf("NewAIO: %v (refused by this kernel or sandbox)", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			off := int64(i%16) * 4 * Align * 7 % (size - mib)
			off = Down(off)
			n := Up(1 + i*9973%mib)
			b := Buf(n)
			if got, err := r.ReadAt(f, b, off); err != nil || got != n {
				errs <- errors.Join(err, io.ErrShortBuffer)
				return
			}
			if !bytes.Equal(b, want[off:off+int64(n)]) {
				errs <- errors.New("read bytes differ from the file's")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := r.done.Load(); got < 64 {
		t.Fatalf("AIO completed %d of the 64 reads (the rest fell back to pread)", got)
	}
	// The reaper waits in the network poller only while the eventfd is
	// non-blocking.
	if fl, err := unix.FcntlInt(r.efd.Fd(), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Fatalf("eventfd flags %#x, %v: not non-blocking", fl, err)
	}
	b := Buf(2 * Align)
	if n, err := r.ReadAt(f, b, size-Align); n != Align || err != io.EOF {
		t.Fatalf("read across the end = %d, %v; want %d, io.EOF", n, err, Align)
	}
	if !bytes.Equal(b[:Align], want[size-Align:]) {
		t.Fatal("read across the end: bytes differ")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for _, rd := range []*AIO{r, nil} {
		if n, err := rd.ReadAt(f, b, 0); n != len(b) || err != nil || !bytes.Equal(b, want[:len(b)]) {
			t.Fatalf("read with pread = %d, %v", n, err)
		}
	}
}

// TestAIOError: a read the kernel fails (a misaligned buffer under
// O_DIRECT) returns the kernel's error, and the AIO goes on.
func TestAIOError(t *testing.T) {
	f, want := directFile(t, mib)
	r, err := NewAIO(4)
	if err != nil {
		t.Fatalf("NewAIO: %v", err)
	}
	defer r.Close()
	b := Buf(2 * Align)
	if _, err := r.ReadAt(f, b[1:Align+1], 0); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("misaligned direct read: %v, want EINVAL", err)
	}
	if n, err := r.ReadAt(f, b, Align); n != len(b) || err != nil || !bytes.Equal(b, want[Align:3*Align]) {
		t.Fatalf("read after a failed one = %d, %v", n, err)
	}
}

// TestAIOWritesAt: aligned writes through AIO land where pwrite(2) would
// put them; a Writer's writes go through the process's shared context.
func TestAIOWritesAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	setDirect(f)
	a, err := NewAIO(8)
	if err != nil {
		t.Fatalf("NewAIO: %v", err)
	}
	defer a.Close()
	want := data(5, 4*mib)
	var wg sync.WaitGroup
	for i := range 4 { // out of order, at once
		wg.Go(func() {
			b := Buf(mib)
			copy(b, want[(3-i)*mib:])
			if n, err := a.WriteAt(f, b, int64(3-i)*mib); n != mib || err != nil {
				t.Errorf("WriteAt #%d = %d, %v", i, n, err)
			}
		})
	}
	wg.Wait()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Fatal("file differs from what was written")
	}
	if a.done.Load() != 4 {
		t.Fatalf("AIO completed %d of 4 writes", a.done.Load())
	}

	sh := shared()
	if sh == nil {
		t.Fatal("no shared AIO context on Linux")
	}
	before := sh.done.Load()
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w := NewWriter(out, 0)
	if _, err := w.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if sh.done.Load() == before {
		t.Fatal("the Writer's writes did not go through the shared AIO context")
	}
}

// TestAllocate: a file allocated ahead takes a Writer's bytes and ends at
// exactly their length; where the file system allocates, the size is set
// before the writes, so they do not extend the file.
func TestAllocate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := data(9, 3*mib+123)
	Allocate(f, Up(int64(len(want))))
	if fi, err := f.Stat(); err != nil {
		t.Fatal(err)
	} else if fi.Size() != Up(int64(len(want))) && fi.Size() != 0 {
		t.Fatalf("size after Allocate = %d, want %d (or 0 where the file system cannot)", fi.Size(), Up(int64(len(want))))
	}
	w := NewWriter(f, 0)
	if _, err := w.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Fatalf("file of %d bytes, want the %d written", len(got), len(want))
	}
}
