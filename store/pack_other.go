//go:build !linux

package store

import "os"

// openDirect opens path for buffered I/O: direct I/O is Linux-only here.
func openDirect(path string, flag int) (*os.File, error) {
	return os.OpenFile(path, flag, 0o600)
}

// punchHole does nothing off Linux: dead ranges keep their disk blocks
// until the whole pack is dead and GC removes the file.
func punchHole(*os.File, int64, int64) error { return nil }
