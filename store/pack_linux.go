package store

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// openDirect opens path for direct I/O, or for buffered I/O where the file
// system refuses O_DIRECT: the writer's aligned writes suit both.
func openDirect(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_DIRECT, 0o600)
	if errors.Is(err, syscall.EINVAL) {
		return os.OpenFile(path, flag, 0o600)
	}
	return f, err
}

// punchHole gives the disk blocks of [off, off+n) back to the file system;
// the range then reads as zeros and the file keeps its size.
func punchHole(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}
