//go:build arm64 && !purego

#include "textflag.h"

// F16 KV cache kernels (see kv_arm64.go). Strides are in halves. FCVTL,
// FCVTN, FADD and FADDP on vectors are emitted as WORDs, named beside each.

// func f32ToF16Asm(dst *uint16, src *float32, n int)
// n is a positive multiple of 8; FCVTN rounds by FPCR (nearest even).
TEXT ·f32ToF16Asm(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2
cvloop:
	VLD1.P 32(R1), [V0.S4, V1.S4]
	WORD $0xe216802 // FCVTN V2.4H, V0.4S
	WORD $0x4e216822 // FCVTN2 V2.8H, V1.4S
	VST1.P [V2.H8], 16(R0)
	SUBS $8, R2, R2
	BNE cvloop
	RET

// func dotF16RowsAsm(out, x *float32, h *uint16, stride, n, rows int)
// out[r] = x[0:n] · h[r*stride : r*stride+n]; n is a positive multiple of 8.
// Four rows per pass share each load of x.
TEXT ·dotF16RowsAsm(SB), NOSPLIT, $0-48
	MOVD out+0(FP), R0
	MOVD x+8(FP), R1
	MOVD h+16(FP), R2
	MOVD stride+24(FP), R3
	LSL $1, R3, R3
	MOVD n+32(FP), R4
	MOVD rows+40(FP), R5
dr4:
	CMP $4, R5
	BLT dr1
	ADD R3, R2, R6
	ADD R3, R6, R7
	ADD R3, R7, R8
	ADD R3, R8, R11
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	MOVD R1, R9
	MOVD R4, R12
dr4loop:
	VLD1.P 32(R9), [V16.S4, V17.S4]
	VLD1.P 16(R2), [V18.H8]
	VLD1.P 16(R6), [V19.H8]
	VLD1.P 16(R7), [V20.H8]
	VLD1.P 16(R8), [V21.H8]
	WORD $0xe217a56 // FCVTL V22.4S, V18.4H
	WORD $0x4e217a57 // FCVTL2 V23.4S, V18.8H
	WORD $0xe217a78 // FCVTL V24.4S, V19.4H
	WORD $0x4e217a79 // FCVTL2 V25.4S, V19.8H
	WORD $0xe217a9a // FCVTL V26.4S, V20.4H
	WORD $0x4e217a9b // FCVTL2 V27.4S, V20.8H
	WORD $0xe217abc // FCVTL V28.4S, V21.4H
	WORD $0x4e217abd // FCVTL2 V29.4S, V21.8H
	VFMLA V16.S4, V22.S4, V0.S4
	VFMLA V17.S4, V23.S4, V4.S4
	VFMLA V16.S4, V24.S4, V1.S4
	VFMLA V17.S4, V25.S4, V5.S4
	VFMLA V16.S4, V26.S4, V2.S4
	VFMLA V17.S4, V27.S4, V6.S4
	VFMLA V16.S4, V28.S4, V3.S4
	VFMLA V17.S4, V29.S4, V7.S4
	SUBS $8, R12, R12
	BNE dr4loop
	WORD $0x4e24d400 // FADD V0.4S, V0.4S, V4.4S
	WORD $0x4e25d421 // FADD V1.4S, V1.4S, V5.4S
	WORD $0x4e26d442 // FADD V2.4S, V2.4S, V6.4S
	WORD $0x4e27d463 // FADD V3.4S, V3.4S, V7.4S
	WORD $0x6e21d400 // FADDP V0.4S, V0.4S, V1.4S
	WORD $0x6e23d442 // FADDP V2.4S, V2.4S, V3.4S
	WORD $0x6e22d400 // FADDP V0.4S, V0.4S, V2.4S
	VST1.P [V0.S4], 16(R0)
	MOVD R11, R2
	SUB $4, R5, R5
	B dr4
dr1:
	CBZ R5, drdone
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V4.B16, V4.B16, V4.B16
	ADD R3, R2, R11
	MOVD R1, R9
	MOVD R4, R12
dr1loop:
	VLD1.P 32(R9), [V16.S4, V17.S4]
	VLD1.P 16(R2), [V18.H8]
	WORD $0xe217a56 // FCVTL V22.4S, V18.4H
	WORD $0x4e217a57 // FCVTL2 V23.4S, V18.8H
	VFMLA V16.S4, V22.S4, V0.S4
	VFMLA V17.S4, V23.S4, V4.S4
	SUBS $8, R12, R12
	BNE dr1loop
	WORD $0x4e24d400 // FADD V0.4S, V0.4S, V4.4S
	WORD $0x6e20d400 // FADDP V0.4S, V0.4S, V0.4S
	WORD $0x6e20d400 // FADDP V0.4S, V0.4S, V0.4S
	FMOVS F0, (R0)
	ADD $4, R0
	MOVD R11, R2
	SUB $1, R5, R5
	B dr1
drdone:
	RET

// func addScaledF16RowsAsm(dst, w *float32, h *uint16, stride, n, rows int)
// dst[0:n] += Σ_r w[r] · h[r*stride : r*stride+n]; n is a positive multiple
// of 8, rows positive. Column blocks of 32 (then 8) stay in registers while
// the rows stream past.
TEXT ·addScaledF16RowsAsm(SB), NOSPLIT, $0-48
	MOVD dst+0(FP), R0
	MOVD w+8(FP), R1
	MOVD h+16(FP), R2
	MOVD stride+24(FP), R3
	LSL $1, R3, R3
	MOVD n+32(FP), R4
	MOVD rows+40(FP), R5
as32:
	CMP $32, R4
	BLT as8
	ADD $64, R0, R13
	VLD1 (R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1 (R13), [V4.S4, V5.S4, V6.S4, V7.S4]
	MOVD R1, R9
	MOVD R2, R10
	MOVD R5, R12
as32loop:
	VLD1R (R9), [V31.S4]
	ADD $4, R9
	VLD1 (R10), [V16.H8, V17.H8, V18.H8, V19.H8]
	ADD R3, R10, R10
	WORD $0xe217a14 // FCVTL V20.4S, V16.4H
	WORD $0x4e217a15 // FCVTL2 V21.4S, V16.8H
	WORD $0xe217a36 // FCVTL V22.4S, V17.4H
	WORD $0x4e217a37 // FCVTL2 V23.4S, V17.8H
	WORD $0xe217a58 // FCVTL V24.4S, V18.4H
	WORD $0x4e217a59 // FCVTL2 V25.4S, V18.8H
	WORD $0xe217a7a // FCVTL V26.4S, V19.4H
	WORD $0x4e217a7b // FCVTL2 V27.4S, V19.8H
	VFMLA V31.S4, V20.S4, V0.S4
	VFMLA V31.S4, V21.S4, V1.S4
	VFMLA V31.S4, V22.S4, V2.S4
	VFMLA V31.S4, V23.S4, V3.S4
	VFMLA V31.S4, V24.S4, V4.S4
	VFMLA V31.S4, V25.S4, V5.S4
	VFMLA V31.S4, V26.S4, V6.S4
	VFMLA V31.S4, V27.S4, V7.S4
	SUBS $1, R12, R12
	BNE as32loop
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R0)
	VST1 [V4.S4, V5.S4, V6.S4, V7.S4], (R13)
	ADD $128, R0
	ADD $64, R2
	SUB $32, R4, R4
	B as32
as8:
	CMP $8, R4
	BLT asdone
	VLD1 (R0), [V0.S4, V1.S4]
	MOVD R1, R9
	MOVD R2, R10
	MOVD R5, R12
as8loop:
	VLD1R (R9), [V31.S4]
	ADD $4, R9
	VLD1 (R10), [V16.H8]
	ADD R3, R10, R10
	WORD $0xe217a14 // FCVTL V20.4S, V16.4H
	WORD $0x4e217a15 // FCVTL2 V21.4S, V16.8H
	VFMLA V31.S4, V20.S4, V0.S4
	VFMLA V31.S4, V21.S4, V1.S4
	SUBS $1, R12, R12
	BNE as8loop
	VST1 [V0.S4, V1.S4], (R0)
	ADD $32, R0
	ADD $16, R2
	SUB $8, R4, R4
	B as8
asdone:
	RET
