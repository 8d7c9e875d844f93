//go:build linux

package gguf

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

const hugePage = 2 << 20

// readResident copies r (the file) into anonymous memory advised to use
// transparent huge pages, dropping the file's page cache behind the copy so
// the weights are held once. Huge pages cut the TLB misses of streaming
// every weight once per token.
func readResident(r io.ReaderAt, size int64) ([]byte, func() error, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, fmt.Errorf("file size %d cannot be held in memory", size)
	}
	n := (int(size) + 2*hugePage - 1) &^ (hugePage - 1)
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, fmt.Errorf("allocating %d bytes: %w", n, err)
	}
	unmap := func() error { return unix.Munmap(mem) }
	// Start on a huge-page boundary so the kernel can back it with huge pages.
	off := 0
	if r := int(uintptrOf(mem) % hugePage); r != 0 {
		off = hugePage - r
	}
	data := mem[off : off+int(size) : off+int(size)]
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE) // best effort
	const step = 64 << 20
	for pos := 0; pos < len(data); pos += step {
		end := min(pos+step, len(data))
		if _, err := io.ReadFull(io.NewSectionReader(r, int64(pos), int64(end-pos)), data[pos:end]); err != nil {
			unmap()
			return nil, nil, fmt.Errorf("reading at %d: %w", pos, err)
		}
		if fd, ok := r.(*os.File); ok {
			_ = unix.Fadvise(int(fd.Fd()), int64(pos), int64(end-pos), unix.FADV_DONTNEED)
		}
	}
	return data, unmap, nil
}
