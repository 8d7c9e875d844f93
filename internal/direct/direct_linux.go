package direct

import (
	"os"

	"golang.org/x/sys/unix"
)

// setDirect turns direct I/O on for f where the file system allows.
func setDirect(f *os.File) {
	fd := int(f.Fd())
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl|unix.O_DIRECT)
	}
}

// clearDirect turns direct I/O off for f and reports whether it was on: a
// file system may accept O_DIRECT at open and refuse the I/O (EINVAL).
func clearDirect(f *os.File) bool {
	fd := uintptr(f.Fd())
	fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err != nil || fl&unix.O_DIRECT == 0 {
		return false
	}
	_, err = unix.FcntlInt(fd, unix.F_SETFL, fl&^unix.O_DIRECT)
	return err == nil
}

// PunchHole gives the disk blocks of [off, off+n) back to the file system;
// the range then reads as zeros and the file keeps its size.
func PunchHole(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}
