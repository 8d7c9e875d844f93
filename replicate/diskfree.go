package replicate

import "github.com/cairnhub/cairn/internal/disk"

// DiskFree returns the bytes available to unprivileged users on the file
// system holding path: the capacity a node reports when the operator set
// none. It is 0 (unknown) where the platform cannot tell; nodes there weigh
// 1 unless the operator sets a capacity.
func DiskFree(path string) (int64, error) {
	n, err := disk.Free(path)
	return max(n, 0), err
}
