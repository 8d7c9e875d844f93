package tensor

import "math"

// SiLU is x·sigmoid(x), x / (1 + e^-x), with e^x in float32 as exp32
// computes it. SiLUMul gives its bits, SiLU(h)·u, on whole slices.
func SiLU(x float32) float32 { return x / float32(1+exp32(-x)) }

// exp32 is e^x in float32 to about one ulp (Cody and Waite's reduction and
// Cephes' expf polynomial), each operation rounded to float32 in the order
// the vector kernels take, so that they give the same bits. x is clamped
// to [expLo, expHi], where 2^n stays a normal float: e^x under e^-87.3 is
// 2^-126, and over e^88.0 is about 1.6e38 (not +Inf), which leaves
// x / (1 + e^-x) within a rounding of its limits (x, and 0).
func exp32(x float32) float32 {
	if x != x {
		return x
	}
	x = min(max(x, expLo), expHi)
	n := float32(math.RoundToEven(float64(float32(x * expLog2e))))
	r := x - float32(n*expC1)
	r -= float32(n * expC2)
	z := float32(r * r)
	y := float32(expP0 * r)
	y = float32(float32(y+expP1) * r)
	y = float32(float32(y+expP2) * r)
	y = float32(float32(y+expP3) * r)
	y = float32(float32(y+expP4) * r)
	y = float32(float32(y+expP5) * z)
	y = float32(float32(y+r) + 1)
	return float32(y * math.Float32frombits(uint32(int32(n)+127)<<23))
}

const (
	expLo    = -87.33654 // n = -126
	expHi    = 88.02     // n = 127
	expLog2e = 1.44269504088896341
	expC1    = 0.693359375
	expC2    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
)

// SiLUMul sets h[i] to SiLU(h[i])·u[i], the same bits as the scalar code,
// in vector registers where the CPU has them (len(u) >= len(h)).
func SiLUMul(h, u []float32) {
	u = u[:len(h)]
	n := siluMulAsm(h, u)
	for i := n; i < len(h); i++ {
		h[i] = SiLU(h[i]) * u[i]
	}
}
