package direct

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Align is the offset, length and address alignment of direct I/O: the
// page size, which covers every logical block size in use.
const Align = 4096

// Buf returns n bytes (rounded up to Align) starting on an Align boundary.
func Buf(n int) []byte {
	n = Up(n)
	b := make([]byte, n+Align)
	off := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (Align - 1)); r != 0 {
		off = Align - r // Go's heap does not move objects
	}
	return b[off : off+n : off+n]
}

// ReadAt reads len(b) bytes of f at off, as f.ReadAt does, through the
// process's AIO context where there is one (see AIO): the goroutine
// waits, not a scheduler slot. With direct I/O, b, off and len(b) are
// aligned.
func ReadAt(f *os.File, b []byte, off int64) (int, error) { return shared().ReadAt(f, b, off) }

// Up rounds n up to a multiple of Align.
func Up[T int | int64](n T) T { return (n + Align - 1) &^ (Align - 1) }

// Down rounds n down to a multiple of Align.
func Down[T int | int64](n T) T { return n &^ (Align - 1) }

// Writer writes a file sequentially with direct I/O, through aligned
// buffers, keeping up to depth writes in flight while it fills the next
// buffer. Pad ends a run of writes on a page boundary and waits for them;
// Close also sets the file's size to the bytes written. A Writer is not
// used after an error: what reached the file is then unknown.
type Writer struct {
	f    *os.File
	free chan []byte // buffers not in flight
	buf  []byte      // the buffer being filled
	n    int         // bytes in buf
	off  int64       // file offset of buf[0], aligned

	wg    sync.WaitGroup // writes in flight
	errMu sync.Mutex
	err   error // the first write error
}

const (
	// bufSize: one write(2) per 4 MiB ran at 2.4 GB/s direct on the VMs'
	// disk, against 1 GB/s per 1 MiB.
	bufSize = 4 << 20
	// depth: two 4 MiB writes in flight took a GiB in 0.55 s where one
	// took 0.98 s, measured one after the other on the same disk.
	depth = 2
)

// NewWriter writes f from offset off (rounded up to Align), switching f to
// direct I/O where the system allows (f stays buffered otherwise).
func NewWriter(f *os.File, off int64) *Writer {
	setDirect(f)
	w := &Writer{f: f, free: make(chan []byte, depth+1), off: Up(off)}
	for range depth {
		w.free <- Buf(bufSize)
	}
	w.buf = Buf(bufSize)
	return w
}

// Offset is the file offset the next byte written goes to.
func (w *Writer) Offset() int64 { return w.off + int64(w.n) }

func (w *Writer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		c := copy(w.buf[w.n:], p)
		w.n += c
		p = p[c:]
		if w.n == len(w.buf) {
			w.submit(w.n)
			if err := w.failed(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// submit starts writing the first n bytes of the buffer and takes a free
// one, waiting for a write to end when depth are in flight.
func (w *Writer) submit(n int) {
	buf, off := w.buf, w.off
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		_, err := shared().WriteAt(w.f, buf[:n], off)
		if errors.Is(err, syscall.EINVAL) && clearDirect(w.f) {
			_, err = w.f.WriteAt(buf[:n], off) // buffered, then
		}
		if err != nil {
			w.errMu.Lock()
			if w.err == nil {
				w.err = fmt.Errorf("write %s: %w", w.f.Name(), err)
			}
			w.errMu.Unlock()
		}
		w.free <- buf
	}()
	w.off += int64(n)
	w.n = 0
	w.buf = <-w.free
}

func (w *Writer) failed() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// Pad writes what is buffered, padded with zeros to a page, and waits for
// every write: when it returns, every byte written is in the file (on the
// device with direct I/O), and the next write starts on the next page, so
// no page written before is written again.
func (w *Writer) Pad() error {
	if w.n > 0 {
		end := Up(w.n)
		clear(w.buf[w.n:end])
		w.submit(end)
	}
	w.wg.Wait()
	return w.failed()
}

// Close pads and sets the file's size to the bytes written (without the
// padding). It neither syncs nor closes the file.
func (w *Writer) Close() error {
	size := w.Offset()
	if err := w.Pad(); err != nil {
		return err
	}
	if err := w.f.Truncate(size); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	return nil
}
