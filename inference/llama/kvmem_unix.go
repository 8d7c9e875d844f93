//go:build unix

package llama

import "golang.org/x/sys/unix"

// kvAlloc returns n zeroed bytes of anonymous memory mapped outside the Go
// heap and the function that unmaps them (nil when n is 0). Pages become
// resident as they are first written. When the mapping fails it falls
// back to the Go heap.
func kvAlloc(n int) ([]byte, func()) {
	if n == 0 {
		return nil, nil
	}
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n), nil
	}
	return mem, func() { _ = unix.Munmap(mem) }
}
