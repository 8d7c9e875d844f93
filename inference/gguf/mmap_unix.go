//go:build unix

package gguf

import (
	"os"

	"golang.org/x/sys/unix"
)

func mmapFile(fd *os.File, size int64) ([]byte, func() error, bool) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, false
	}
	data, err := unix.Mmap(int(fd.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, false
	}
	return data, func() error { return unix.Munmap(data) }, true
}
