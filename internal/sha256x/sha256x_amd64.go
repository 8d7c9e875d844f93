//go:build amd64 && !purego

package sha256x

import "golang.org/x/sys/cpu"

// hasSHA: the kernel uses the SHA extensions, SSSE3's byte shuffle and
// AVX's three-operand forms of the other vector instructions.
var hasSHA = shaNI() && cpu.X86.HasAVX && cpu.X86.HasSSE41 && cpu.X86.HasSSSE3

// shaNI reports CPUID.(EAX=7,ECX=0):EBX.SHA[bit 29].
func shaNI() bool {
	if maxLeaf() < 7 {
		return false
	}
	return cpuid7ebx()&(1<<29) != 0
}

func maxLeaf() uint32
func cpuid7ebx() uint32

// blocks2 runs SHA-256's compression function over n 64-byte chunks of a
// into h[0:8] and of b into h[8:16], the two lanes interleaved.
//
//go:noescape
func blocks2(h *[16]uint32, a, b *byte, n int)
