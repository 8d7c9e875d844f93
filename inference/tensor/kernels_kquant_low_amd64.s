//go:build amd64 && !purego

#include "textflag.h"

// AVX2/FMA row kernels of Q2_K, Q3_K and IQ4_XS (kquant_low.go) against
// Q8_K activations. Per super-block the integer products are summed
// exactly in int32 lanes (VPMADDUBSW to int16 pairs, VPMADDWD with the
// sub-block scales), converted to float once and accumulated with FMA under
// the super-block's scale; one horizontal sum at the end.

#define PFD 1024

// Sub-block scale broadcast controls for VPSHUFB on int16 scales laid out
// even | odd (kdeint): control c repeats int16 c of each lane, so the low
// lane gets scale 2c and the high lane scale 2c+1.
DATA kbcast<>+0(SB)/4, $0x1000100
DATA kbcast<>+4(SB)/4, $0x1000100
DATA kbcast<>+8(SB)/4, $0x1000100
DATA kbcast<>+12(SB)/4, $0x1000100
DATA kbcast<>+16(SB)/4, $0x1000100
DATA kbcast<>+20(SB)/4, $0x1000100
DATA kbcast<>+24(SB)/4, $0x1000100
DATA kbcast<>+28(SB)/4, $0x1000100
DATA kbcast<>+32(SB)/4, $0x3020302
DATA kbcast<>+36(SB)/4, $0x3020302
DATA kbcast<>+40(SB)/4, $0x3020302
DATA kbcast<>+44(SB)/4, $0x3020302
DATA kbcast<>+48(SB)/4, $0x3020302
DATA kbcast<>+52(SB)/4, $0x3020302
DATA kbcast<>+56(SB)/4, $0x3020302
DATA kbcast<>+60(SB)/4, $0x3020302
DATA kbcast<>+64(SB)/4, $0x5040504
DATA kbcast<>+68(SB)/4, $0x5040504
DATA kbcast<>+72(SB)/4, $0x5040504
DATA kbcast<>+76(SB)/4, $0x5040504
DATA kbcast<>+80(SB)/4, $0x5040504
DATA kbcast<>+84(SB)/4, $0x5040504
DATA kbcast<>+88(SB)/4, $0x5040504
DATA kbcast<>+92(SB)/4, $0x5040504
DATA kbcast<>+96(SB)/4, $0x7060706
DATA kbcast<>+100(SB)/4, $0x7060706
DATA kbcast<>+104(SB)/4, $0x7060706
DATA kbcast<>+108(SB)/4, $0x7060706
DATA kbcast<>+112(SB)/4, $0x7060706
DATA kbcast<>+116(SB)/4, $0x7060706
DATA kbcast<>+120(SB)/4, $0x7060706
DATA kbcast<>+124(SB)/4, $0x7060706
DATA kbcast<>+128(SB)/4, $0x9080908
DATA kbcast<>+132(SB)/4, $0x9080908
DATA kbcast<>+136(SB)/4, $0x9080908
DATA kbcast<>+140(SB)/4, $0x9080908
DATA kbcast<>+144(SB)/4, $0x9080908
DATA kbcast<>+148(SB)/4, $0x9080908
DATA kbcast<>+152(SB)/4, $0x9080908
DATA kbcast<>+156(SB)/4, $0x9080908
DATA kbcast<>+160(SB)/4, $0xb0a0b0a
DATA kbcast<>+164(SB)/4, $0xb0a0b0a
DATA kbcast<>+168(SB)/4, $0xb0a0b0a
DATA kbcast<>+172(SB)/4, $0xb0a0b0a
DATA kbcast<>+176(SB)/4, $0xb0a0b0a
DATA kbcast<>+180(SB)/4, $0xb0a0b0a
DATA kbcast<>+184(SB)/4, $0xb0a0b0a
DATA kbcast<>+188(SB)/4, $0xb0a0b0a
DATA kbcast<>+192(SB)/4, $0xd0c0d0c
DATA kbcast<>+196(SB)/4, $0xd0c0d0c
DATA kbcast<>+200(SB)/4, $0xd0c0d0c
DATA kbcast<>+204(SB)/4, $0xd0c0d0c
DATA kbcast<>+208(SB)/4, $0xd0c0d0c
DATA kbcast<>+212(SB)/4, $0xd0c0d0c
DATA kbcast<>+216(SB)/4, $0xd0c0d0c
DATA kbcast<>+220(SB)/4, $0xd0c0d0c
DATA kbcast<>+224(SB)/4, $0xf0e0f0e
DATA kbcast<>+228(SB)/4, $0xf0e0f0e
DATA kbcast<>+232(SB)/4, $0xf0e0f0e
DATA kbcast<>+236(SB)/4, $0xf0e0f0e
DATA kbcast<>+240(SB)/4, $0xf0e0f0e
DATA kbcast<>+244(SB)/4, $0xf0e0f0e
DATA kbcast<>+248(SB)/4, $0xf0e0f0e
DATA kbcast<>+252(SB)/4, $0xf0e0f0e
GLOBL kbcast<>(SB), RODATA|NOPTR, $256

// Byte order that puts the even bytes of 16 before the odd ones.
DATA kdeint<>+0(SB)/4, $0x6040200
DATA kdeint<>+4(SB)/4, $0xe0c0a08
DATA kdeint<>+8(SB)/4, $0x7050301
DATA kdeint<>+12(SB)/4, $0xf0d0b09
GLOBL kdeint<>(SB), RODATA|NOPTR, $16

// ggml's kvalues_iq4nl as int8.
DATA kiq4<>+0(SB)/8, $0xf6eaddcfbfad9881
DATA kiq4<>+8(SB)/8, $0x7159453526190d01
GLOBL kiq4<>(SB), RODATA|NOPTR, $16

// X1 = horizontal sum of Y0.
#define HSUM8K \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X0, X1, X1 \
	VMOVHLPS X1, X1, X2 \
	VADDPS X2, X1, X1 \
	VMOVSHDUP X1, X2 \
	VADDSS X2, X1, X1

// Q2_K chunk c (= 4n+j): two-bit values at shift sh of Y3 times the
// activation at 32c(DI), weighted by sub-block scales 2c and 2c+1 (Y11).
#define Q2CHUNK(c, sh) \
	VPSRLW $sh, Y3, Y6 \
	VPAND Y15, Y6, Y6 \
	VPMADDUBSW 32*c(DI), Y6, Y6 \
	VPSHUFB kbcast<>+32*c(SB), Y11, Y7 \
	VPMADDWD Y7, Y6, Y6 \
	VPADDD Y6, Y2, Y2

// func dotQ2KAVX(w *byte, qs *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ2KAVX(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), R8
	MOVQ nb+32(FP), CX
	VXORPS Y0, Y0, Y0
	MOVL $0x03030303, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	TESTQ CX, CX
	JEQ q2kdone
q2kloop:
	PREFETCHT0 PFD(SI)
	PREFETCHT0 PFD+64(SI)
	VMOVDQU 0(SI), X12
	VPSRLW $4, X12, X10
	VPAND X14, X10, X10
	VPMOVZXBW X10, Y10
	VPMADDWD (R8), Y10, Y10 // mins times the sums of 16
	VPAND X14, X12, X12
	VPSHUFB kdeint<>(SB), X12, X11
	VPMOVZXBW X11, Y11 // scales, even | odd
	VPXOR Y2, Y2, Y2
	VMOVDQU 16(SI), Y3
	Q2CHUNK(0, 0)
	Q2CHUNK(1, 2)
	Q2CHUNK(2, 4)
	Q2CHUNK(3, 6)
	VMOVDQU 48(SI), Y3
	Q2CHUNK(4, 0)
	Q2CHUNK(5, 2)
	Q2CHUNK(6, 4)
	Q2CHUNK(7, 6)
	VMOVSS (DX), X4
	MOVWLZX 80(SI), AX
	VMOVD AX, X8
	VCVTPH2PS X8, X8
	VMULSS X4, X8, X8
	VBROADCASTSS X8, Y8
	MOVWLZX 82(SI), AX
	VMOVD AX, X9
	VCVTPH2PS X9, X9
	VMULSS X4, X9, X9
	VBROADCASTSS X9, Y9
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y10, Y10
	VFMADD231PS Y8, Y2, Y0
	VFNMADD231PS Y9, Y10, Y0
	ADDQ $84, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, R8
	DECQ CX
	JNZ q2kloop
q2kdone:
	HSUM8K
	VZEROUPPER
	MOVSS X1, ret+40(FP)
	RET

// Q3_K chunk c (= 4n+j): two-bit values at shift sh of Y3 plus 4 where hmask
// bit c is set (Y5 holds that bit moved to bit 2), times the activation at
// 32c(DI), weighted by sub-block scales 2c and 2c+1 (Y11).
#define Q3CHUNK(c, sh) \
	VPSRLW $sh, Y3, Y6 \
	VPAND Y15, Y6, Y6 \
	VPAND Y14, Y5, Y5 \
	VPOR Y5, Y6, Y6 \
	VPMADDUBSW 32*c(DI), Y6, Y6 \
	VPSHUFB kbcast<>+32*c(SB), Y11, Y7 \
	VPMADDWD Y7, Y6, Y6 \
	VPADDD Y6, Y2, Y2

// func dotQ3KAVX(w *byte, qs *int8, d *float32, bs *int16, nb int) float32
// Values are taken as v+4 in [0,7]; the 4 comes back out through the sums
// of 16: Σ (s-32)*Σ(v+4)*y - 4*Σ (s-32)*bsum.
TEXT ·dotQ3KAVX(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), R8
	MOVQ nb+32(FP), CX
	VXORPS Y0, Y0, Y0
	MOVL $0x03030303, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x04040404, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x20202020, AX
	VMOVD AX, X13
	VPBROADCASTD X13, X13
	TESTQ CX, CX
	JEQ q3kdone
q3kloop:
	PREFETCHT0 PFD(SI)
	PREFETCHT0 PFD+64(SI)
	// 16 6-bit scales from 12 bytes (ggml's kmask unpacking).
	MOVL 96(SI), R9
	MOVL 100(SI), R10
	MOVL 104(SI), R11
	MOVL R9, AX
	ANDL $0x0f0f0f0f, AX
	MOVL R11, BX
	ANDL $0x03030303, BX
	SHLL $4, BX
	ORL BX, AX
	VMOVD AX, X12
	MOVL R10, AX
	ANDL $0x0f0f0f0f, AX
	MOVL R11, BX
	SHRL $2, BX
	ANDL $0x03030303, BX
	SHLL $4, BX
	ORL BX, AX
	VPINSRD $1, AX, X12, X12
	MOVL R9, AX
	SHRL $4, AX
	ANDL $0x0f0f0f0f, AX
	MOVL R11, BX
	SHRL $4, BX
	ANDL $0x03030303, BX
	SHLL $4, BX
	ORL BX, AX
	VPINSRD $2, AX, X12, X12
	MOVL R10, AX
	SHRL $4, AX
	ANDL $0x0f0f0f0f, AX
	MOVL R11, BX
	SHRL $6, BX
	ANDL $0x03030303, BX
	SHLL $4, BX
	ORL BX, AX
	VPINSRD $3, AX, X12, X12
	VPSUBB X13, X12, X12 // scale-32, int8
	VPSHUFB kdeint<>(SB), X12, X11
	VPMOVSXBW X11, Y11 // even | odd
	VPMOVSXBW X12, Y12 // in order
	VPMADDWD (R8), Y12, Y12 // Σ (s-32)*bsum per lane pair
	VPSLLD $2, Y12, Y12
	VPXOR Y2, Y2, Y2
	VPSUBD Y12, Y2, Y2
	VMOVDQU 0(SI), Y1 // hmask
	VMOVDQU 32(SI), Y3
	VPSLLW $2, Y1, Y5
	Q3CHUNK(0, 0)
	VPSLLW $1, Y1, Y5
	Q3CHUNK(1, 2)
	VMOVDQA Y1, Y5
	Q3CHUNK(2, 4)
	VPSRLW $1, Y1, Y5
	Q3CHUNK(3, 6)
	VMOVDQU 64(SI), Y3
	VPSRLW $2, Y1, Y5
	Q3CHUNK(4, 0)
	VPSRLW $3, Y1, Y5
	Q3CHUNK(5, 2)
	VPSRLW $4, Y1, Y5
	Q3CHUNK(6, 4)
	VPSRLW $5, Y1, Y5
	Q3CHUNK(7, 6)
	MOVWLZX 108(SI), AX
	VMOVD AX, X8
	VCVTPH2PS X8, X8
	VMULSS (DX), X8, X8
	VBROADCASTSS X8, Y8
	VCVTDQ2PS Y2, Y2
	VFMADD231PS Y8, Y2, Y0
	ADDQ $110, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, R8
	DECQ CX
	JNZ q3kloop
q3kdone:
	HSUM8K
	VZEROUPPER
	MOVSS X1, ret+40(FP)
	RET

// IQ4_XS sub-block i: levels of the 32 nibbles at 8+16i(SI) times the
// activation at 32i(DI), weighted by scale_i-32 (from R9 = scales_h,
// R10 = scales_l).
#define IQ4XSSUB(i) \
	VMOVDQU 8+16*i(SI), X3 \
	VPSRLW $4, X3, X4 \
	VINSERTI128 $1, X4, Y3, Y3 \
	VPAND Y14, Y3, Y3 \
	VPSHUFB Y3, Y13, Y3 \
	VMOVDQU 32*i(DI), Y4 \
	VPSIGNB Y3, Y3, Y5 \
	VPSIGNB Y3, Y4, Y4 \
	VPMADDUBSW Y4, Y5, Y5 \
	MOVL R10, AX \
	SHRL $(4*i), AX \
	ANDL $15, AX \
	MOVL R9, BX \
	SHRL $(2*i), BX \
	ANDL $3, BX \
	SHLL $4, BX \
	ORL BX, AX \
	SUBL $32, AX \
	VMOVD AX, X6 \
	VPBROADCASTW X6, Y6 \
	VPMADDWD Y6, Y5, Y5 \
	VPADDD Y5, Y2, Y2

// func dotIQ4XSAVX(w *byte, qs *int8, d *float32, nb int) float32
TEXT ·dotIQ4XSAVX(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	VXORPS Y0, Y0, Y0
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VBROADCASTI128 kiq4<>(SB), Y13
	TESTQ CX, CX
	JEQ iq4xsdone
iq4xsloop:
	PREFETCHT0 PFD(SI)
	PREFETCHT0 PFD+64(SI)
	PREFETCHT0 PFD+128(SI)
	MOVWLZX 2(SI), R9
	MOVL 4(SI), R10
	VPXOR Y2, Y2, Y2
	IQ4XSSUB(0)
	IQ4XSSUB(1)
	IQ4XSSUB(2)
	IQ4XSSUB(3)
	IQ4XSSUB(4)
	IQ4XSSUB(5)
	IQ4XSSUB(6)
	IQ4XSSUB(7)
	MOVWLZX 0(SI), AX
	VMOVD AX, X8
	VCVTPH2PS X8, X8
	VMULSS (DX), X8, X8
	VBROADCASTSS X8, Y8
	VCVTDQ2PS Y2, Y2
	VFMADD231PS Y8, Y2, Y0
	ADDQ $136, SI
	ADDQ $256, DI
	ADDQ $4, DX
	DECQ CX
	JNZ iq4xsloop
iq4xsdone:
	HSUM8K
	VZEROUPPER
	MOVSS X1, ret+32(FP)
	RET
