//go:build !linux

package direct

import "os"

func setDirect(*os.File) {}

func clearDirect(*os.File) bool { return false }

// PunchHole does nothing off Linux: the range keeps its disk blocks.
func PunchHole(*os.File, int64, int64) error { return nil }
