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
