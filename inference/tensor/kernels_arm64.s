//go:build arm64 && !purego

#include "textflag.h"

// NEON kernels. Instructions the Go assembler does not know (SMULL, SMLAL2,
// SADALP, FCVTL) are emitted as WORDs with fixed registers, named in the
// comment beside each.

// func dotF32NEON(a, b *float32, n int, acc *[16]float32)
// acc gets four 4-lane partial sums; n is a multiple of 16.
TEXT ·dotF32NEON(SB), NOSPLIT, $0-32
	MOVD a+0(FP), R0
	MOVD b+8(FP), R1
	MOVD n+16(FP), R2
	MOVD acc+24(FP), R3
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	CBZ R2, f32done
f32loop:
	VLD1.P 64(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	VLD1.P 64(R1), [V8.S4, V9.S4, V10.S4, V11.S4]
	VFMLA V8.S4, V4.S4, V0.S4
	VFMLA V9.S4, V5.S4, V1.S4
	VFMLA V10.S4, V6.S4, V2.S4
	VFMLA V11.S4, V7.S4, V3.S4
	SUBS $16, R2, R2
	BNE f32loop
f32done:
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R3)
	RET

// func axpyNEON(dst, x *float32, a *float32, n int)
// dst[i] += *a * x[i]; n is a multiple of 16.
TEXT ·axpyNEON(SB), NOSPLIT, $0-32
	MOVD dst+0(FP), R0
	MOVD x+8(FP), R1
	MOVD a+16(FP), R2
	MOVD n+24(FP), R3
	VLD1R (R2), [V31.S4]
	CBZ R3, axdone
axloop:
	VLD1 (R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P 64(R1), [V4.S4, V5.S4, V6.S4, V7.S4]
	VFMLA V4.S4, V31.S4, V0.S4
	VFMLA V5.S4, V31.S4, V1.S4
	VFMLA V6.S4, V31.S4, V2.S4
	VFMLA V7.S4, V31.S4, V3.S4
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)
	SUBS $16, R3, R3
	BNE axloop
axdone:
	RET

// func dotF16NEON(w *byte, x *float32, n int, acc *[16]float32)
// w holds n IEEE halves; n is a multiple of 16.
TEXT ·dotF16NEON(SB), NOSPLIT, $0-32
	MOVD w+0(FP), R0
	MOVD x+8(FP), R1
	MOVD n+16(FP), R2
	MOVD acc+24(FP), R3
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	CBZ R2, f16done
f16loop:
	VLD1.P 32(R0), [V12.H8, V13.H8]
	WORD $0xe217984 // FCVTL V4.4S, V12.4H
	WORD $0x4e217985 // FCVTL2 V5.4S, V12.8H
	WORD $0xe2179a6 // FCVTL V6.4S, V13.4H
	WORD $0x4e2179a7 // FCVTL2 V7.4S, V13.8H
	VLD1.P 64(R1), [V8.S4, V9.S4, V10.S4, V11.S4]
	VFMLA V8.S4, V4.S4, V0.S4
	VFMLA V9.S4, V5.S4, V1.S4
	VFMLA V10.S4, V6.S4, V2.S4
	VFMLA V11.S4, V7.S4, V3.S4
	SUBS $16, R2, R2
	BNE f16loop
f16done:
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R3)
	RET

// func sumsQ80NEON(w *byte, qs *int8, nb int, out *int32)
// For each Q8_0 block b: out[4b:4b+4] = partial sums of w.q * qs (int32).
TEXT ·sumsQ80NEON(SB), NOSPLIT, $0-32
	MOVD w+0(FP), R0
	MOVD qs+8(FP), R1
	MOVD nb+16(FP), R2
	MOVD out+24(FP), R3
	CBZ R2, q80done
q80loop:
	ADD $2, R0, R4
	VLD1 (R4), [V0.B16, V1.B16]
	VLD1.P 32(R1), [V2.B16, V3.B16]
	WORD $0xe22c004 // SMULL V4.8H, V0.8B, V2.8B
	WORD $0x4e228004 // SMLAL2 V4.8H, V0.16B, V2.16B
	WORD $0xe23c025 // SMULL V5.8H, V1.8B, V3.8B
	WORD $0x4e238025 // SMLAL2 V5.8H, V1.16B, V3.16B
	VEOR V6.B16, V6.B16, V6.B16
	WORD $0x4e606886 // SADALP V6.4S, V4.8H
	WORD $0x4e6068a6 // SADALP V6.4S, V5.8H
	VST1.P [V6.S4], 16(R3)
	ADD $34, R0
	SUBS $1, R2, R2
	BNE q80loop
q80done:
	RET

// func sumsQ40NEON(w *byte, qs *int8, nb int, out *int32)
// For each Q4_0 block b: out[4b:4b+4] = partial sums of the unsigned
// nibbles times qs (the -8 offset is applied by the caller).
TEXT ·sumsQ40NEON(SB), NOSPLIT, $0-32
	MOVD w+0(FP), R0
	MOVD qs+8(FP), R1
	MOVD nb+16(FP), R2
	MOVD out+24(FP), R3
	VMOVI $15, V31.B16
	CBZ R2, q40done
q40loop:
	ADD $2, R0, R4
	VLD1 (R4), [V7.B16]
	VAND V31.B16, V7.B16, V0.B16
	VUSHR $4, V7.B16, V1.B16
	VLD1.P 32(R1), [V2.B16, V3.B16]
	WORD $0xe22c004 // SMULL V4.8H, V0.8B, V2.8B
	WORD $0x4e228004 // SMLAL2 V4.8H, V0.16B, V2.16B
	WORD $0xe23c025 // SMULL V5.8H, V1.8B, V3.8B
	WORD $0x4e238025 // SMLAL2 V5.8H, V1.16B, V3.16B
	VEOR V6.B16, V6.B16, V6.B16
	WORD $0x4e606886 // SADALP V6.4S, V4.8H
	WORD $0x4e6068a6 // SADALP V6.4S, V5.8H
	VST1.P [V6.S4], 16(R3)
	ADD $18, R0
	SUBS $1, R2, R2
	BNE q40loop
q40done:
	RET
