//go:build unix

package chunker

import "golang.org/x/sys/unix"

func allocBuf(n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n)
	}
	return b
}

func freeBuf(b []byte) {
	if err := unix.Munmap(b); err != nil {
		_ = err // a heap buffer from the fallback above: the GC takes it
	}
}
