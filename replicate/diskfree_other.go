//go:build !(linux || darwin || freebsd)

package replicate

// DiskFree returns 0 (unknown) where statfs is not available; nodes there
// weigh 1 unless the operator sets a capacity.
func DiskFree(path string) (int64, error) { return 0, nil }
