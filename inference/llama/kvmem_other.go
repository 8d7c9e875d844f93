//go:build !unix

package llama

// kvAlloc returns n zeroed bytes of the Go heap; the collector frees them.
func kvAlloc(n int) ([]byte, func()) { return make([]byte, n), nil }
