package direct

import (
	"errors"
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

// Open opens path for reading with direct I/O; it fails where the file
// system refuses O_DIRECT.
func Open(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
}

// Cached reports whether the page cache holds every page of [off, off+n)
// of f, without reading or starting readahead (cachestat(2), Linux 6.5).
// Where the kernel cannot say, the error is errors.ErrUnsupported.
func Cached(f *os.File, off, n int64) (bool, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	lo, hi := Down(off), Up(off+n)
	var cs unix.Cachestat_t
	var cerr error
	err = sc.Control(func(fd uintptr) {
		cerr = unix.Cachestat(uint(fd), &unix.CachestatRange{Off: uint64(lo), Len: uint64(hi - lo)}, &cs, 0)
	})
	if err != nil {
		return false, err
	}
	if cerr != nil {
		if errors.Is(cerr, unix.ENOSYS) {
			return false, errors.ErrUnsupported
		}
		return false, cerr
	}
	return int64(cs.Cache)*int64(os.Getpagesize()) >= hi-lo, nil
}

// PunchHole gives the disk blocks of [off, off+n) back to the file system;
// the range then reads as zeros and the file keeps its size.
func PunchHole(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}

// Allocate reserves disk blocks for the first n bytes of f and sets its
// size to at least n (fallocate(2), mode 0), so that direct writes below
// n do not extend the file: ext4 does a direct write that extends a file
// before io_submit(2) returns, an AIO inside it asynchronously. Where the
// file system cannot, nothing changes and writes still work.
func Allocate(f *os.File, n int64) {
	if n > 0 {
		_ = unix.Fallocate(int(f.Fd()), 0, 0, n)
	}
}
