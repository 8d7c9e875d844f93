//go:build !linux

package direct

import (
	"errors"
	"os"
)

func setDirect(*os.File) {}

func clearDirect(*os.File) bool { return false }

// Open fails: direct I/O is Linux-only here.
func Open(string) (*os.File, error) { return nil, errors.ErrUnsupported }

// Cached cannot tell here.
func Cached(*os.File, int64, int64) (bool, error) { return false, errors.ErrUnsupported }

// PunchHole does nothing off Linux: the range keeps its disk blocks.
func PunchHole(*os.File, int64, int64) error { return nil }

// Reader is Linux-only; elsewhere a nil *Reader reads with ReadAt.
type Reader struct{}

// NewReader fails: AIO is Linux-only here.
func NewReader(int) (*Reader, error) { return nil, errors.ErrUnsupported }

// ReadAt reads with f.ReadAt.
func (r *Reader) ReadAt(f *os.File, b []byte, off int64) (int, error) { return f.ReadAt(b, off) }

// Close does nothing.
func (r *Reader) Close() error { return nil }
