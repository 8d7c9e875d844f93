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

// AIO is Linux-only; elsewhere a nil *AIO does plain system calls.
type AIO struct{}

// NewAIO fails: AIO is Linux-only here.
func NewAIO(int) (*AIO, error) { return nil, errors.ErrUnsupported }

// ReadAt reads with f.ReadAt.
func (r *AIO) ReadAt(f *os.File, b []byte, off int64) (int, error) { return f.ReadAt(b, off) }

// WriteAt writes with f.WriteAt.
func (r *AIO) WriteAt(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }

// Close does nothing.
func (r *AIO) Close() error { return nil }

func shared() *AIO { return nil }

// Allocate does nothing here.
func Allocate(*os.File, int64) {}
