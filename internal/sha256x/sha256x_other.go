//go:build !amd64 || purego

package sha256x

const hasSHA = false

func blocks2(h *[16]uint32, a, b *byte, n int) { panic("sha256x: no SHA extensions") }
