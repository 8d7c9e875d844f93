package direct

import (
	"fmt"
	"os"
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

// Up rounds n up to a multiple of Align.
func Up[T int | int64](n T) T { return (n + Align - 1) &^ (Align - 1) }

// Down rounds n down to a multiple of Align.
func Down[T int | int64](n T) T { return n &^ (Align - 1) }

// Writer writes a file sequentially with direct I/O, through an aligned
// buffer. Pad ends a run of writes on a page boundary; Close also sets the
// file's size to the bytes written.
type Writer struct {
	f   *os.File
	buf []byte
	n   int   // bytes in buf
	off int64 // file offset of buf[0], aligned
}

// bufSize: one write(2) per 4 MiB ran at 2.4 GB/s direct on the VMs'
// disk, against 1 GB/s per 1 MiB.
const bufSize = 4 << 20

// NewWriter writes f from offset off (rounded up to Align), switching f to
// direct I/O where the system allows (f stays buffered otherwise).
func NewWriter(f *os.File, off int64) *Writer {
	setDirect(f)
	return &Writer{f: f, buf: Buf(bufSize), off: Up(off)}
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
			if err := w.flush(w.n); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (w *Writer) flush(n int) error {
	if _, err := w.f.WriteAt(w.buf[:n], w.off); err != nil {
		// What reached the file is unknown: a Writer is not used after
		// an error (packs reopen the file and append after its end).
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	w.off += int64(n)
	w.n = 0
	return nil
}

// Pad writes what is buffered, padded with zeros to a page: when it
// returns, every byte written is in the file (on the device with direct
// I/O), and the next write starts on the next page, so no page written
// before is written again.
func (w *Writer) Pad() error {
	if w.n == 0 {
		return nil
	}
	end := Up(w.n)
	clear(w.buf[w.n:end])
	return w.flush(end)
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
