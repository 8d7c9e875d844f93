//go:build unix

package store_test

import (
	"io/fs"
	"syscall"
)

func syncDisks() { syscall.Sync() }

// allocated is the disk space a file occupies (value-log files are sparse).
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
