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

// TestReaderReadsAt: many aligned reads at once through one Reader, of
// several sizes and offsets, each with the file's bytes; a read past the
// end gives what is there and io.EOF; after Close reads still work (with
// pread), and so do a nil Reader's.
func TestReaderReadsAt(t *testing.T) {
	const size = 8 * mib
	f, want := directFile(t, size)
	r, err := NewReader(16)
	if err != nil {
		t.Fatalf("NewReader: %v (AIO refused by this kernel or sandbox)", err)
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
	if got := r.reads.Load(); got < 64 {
		t.Fatalf("AIO completed %d of the 64 reads (the rest fell back to pread)", got)
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
	for _, rd := range []*Reader{r, nil} {
		if n, err := rd.ReadAt(f, b, 0); n != len(b) || err != nil || !bytes.Equal(b, want[:len(b)]) {
			t.Fatalf("read with pread = %d, %v", n, err)
		}
	}
}

// TestReaderError: a read the kernel fails (a misaligned buffer under
// O_DIRECT) returns the kernel's error, and the Reader goes on.
func TestReaderError(t *testing.T) {
	f, want := directFile(t, mib)
	r, err := NewReader(4)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
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
