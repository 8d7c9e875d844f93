package tensor

import "fmt"

// Type is a GGML tensor type id, numbered as in GGUF files.
type Type uint32

// The GGML types this package knows. Their numeric values are GGUF's.
const (
	F32    Type = 0
	F16    Type = 1
	Q4_0   Type = 2
	Q4_1   Type = 3
	Q5_0   Type = 6
	Q5_1   Type = 7
	Q8_0   Type = 8
	Q2_K   Type = 10
	Q3_K   Type = 11
	Q4_K   Type = 12
	Q5_K   Type = 13
	Q6_K   Type = 14
	IQ4_NL Type = 20
	IQ4_XS Type = 23
	BF16   Type = 30
)

// Block sizes, in elements, of the quantized types.
const (
	qk     = 32  // Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL
	qkK    = 256 // Q2_K ... Q6_K, IQ4_XS (ggml's QK_K)
	q40B   = 18  // 2 (f16 d) + 16 nibble bytes
	q41B   = 20  // 2 d + 2 m + 16 nibble bytes
	q50B   = 22  // 2 d + 4 high-bit bytes + 16 nibble bytes
	q51B   = 24  // 2 d + 2 m + 4 high-bit bytes + 16 nibble bytes
	q80B   = 34  // 2 (f16 d) + 32 int8
	iq4nlB = 18  // 2 d + 16 nibble bytes (indices into iq4nlValues)
	q2KB   = 84  // 16 scale/min bytes + 64 two-bit bytes + 2 d + 2 dmin
	q3KB   = 110 // 32 high-bit bytes + 64 two-bit bytes + 12 packed scales + 2 d
	q4KB   = 144 // 2 d + 2 dmin + 12 packed scales + 128 nibble bytes
	q5KB   = 176 // 2 d + 2 dmin + 12 packed scales + 32 high-bit bytes + 128 nibble bytes
	q6KB   = 210 // 128 ql + 64 qh + 16 int8 scales + 2 d
	iq4xsB = 136 // 2 d + 2 high scale bits + 4 low scale nibbles + 128 nibble bytes
)

var typeNames = map[Type]string{
	F32: "F32", F16: "F16", Q4_0: "Q4_0", Q8_0: "Q8_0", Q4_K: "Q4_K", Q5_K: "Q5_K", Q6_K: "Q6_K", BF16: "BF16",
	Q4_1: "Q4_1", Q5_0: "Q5_0", Q5_1: "Q5_1", 9: "Q8_1", Q2_K: "Q2_K", Q3_K: "Q3_K", 15: "Q8_K",
	16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", IQ4_NL: "IQ4_NL", 21: "IQ3_S",
	22: "IQ2_S", IQ4_XS: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M",
}

// String returns ggml's name of the type, or "type(N)" for an unknown id.
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockElems returns the number of elements per block: 1 for F32, F16 and
// BF16, 32 for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and IQ4_NL, 256 for the K-quants
// and IQ4_XS, 0 for unsupported types.
func (t Type) BlockElems() int {
	switch t {
	case F32, F16, BF16:
		return 1
	case Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL:
		return qk
	case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS:
		return qkK
	}
	return 0
}

// BlockBytes returns the number of bytes per block, 0 for unsupported types.
func (t Type) BlockBytes() int {
	switch t {
	case F32:
		return 4
	case F16, BF16:
		return 2
	case Q4_0:
		return q40B
	case Q4_1:
		return q41B
	case Q5_0:
		return q50B
	case Q5_1:
		return q51B
	case Q8_0:
		return q80B
	case IQ4_NL:
		return iq4nlB
	case Q2_K:
		return q2KB
	case Q3_K:
		return q3KB
	case IQ4_XS:
		return iq4xsB
	case Q4_K:
		return q4KB
	case Q5_K:
		return q5KB
	case Q6_K:
		return q6KB
	}
	return 0
}

// Supported reports whether this package can compute with the type.
func (t Type) Supported() bool { return t.BlockElems() != 0 }

// RowBytes returns the size in bytes of a row of cols elements of type t.
func RowBytes(t Type, cols int) (int, error) {
	if !t.Supported() {
		return 0, fmt.Errorf("tensor type %v: unsupported", t)
	}
	if cols < 0 {
		return 0, fmt.Errorf("tensor type %v: negative column count %d", t, cols)
	}
	be := t.BlockElems()
	if cols%be != 0 {
		return 0, fmt.Errorf("tensor type %v: %d columns is not a multiple of the block size %d", t, cols, be)
	}
	return cols / be * t.BlockBytes(), nil
}
