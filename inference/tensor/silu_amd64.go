//go:build amd64 && !purego

package tensor

//go:noescape
func siluMulZ(h, u *float32, n int)

//go:noescape
func siluMulAVX(h, u *float32, n int)

// siluMulAsm does the longest prefix of h it has a kernel for and returns
// its length.
func siluMulAsm(h, u []float32) int {
	switch {
	case useAVX512 && len(h) >= 16:
		n := len(h) &^ 15
		siluMulZ(&h[0], &u[0], n)
		return n
	case useAsm && len(h) >= 8:
		n := len(h) &^ 7
		siluMulAVX(&h[0], &u[0], n)
		return n
	}
	return 0
}
