//go:build amd64 && !purego

#include "textflag.h"

// AVX-512 VNNI (VPDPBUSD on 256-bit registers, AVX512VL) builds of the
// int8 block kernels: one instruction per byte product instead of
// VPMADDUBSW+VPMADDWD, and VPDPWSSD for VPMADDWD+VPADDD; same int32 sums.
#define DOTB(s, u, d) VPXOR d, d, d; VPDPBUSD s, u, d
#define DOTB2(s1, u1, s2, u2, d) VPXOR d, d, d; VPDPBUSD s1, u1, d; VPDPBUSD s2, u2, d
#define FN_Q80 ·dotQ80VNNI
#define FN_Q40 ·dotQ40VNNI
#define FN_Q80X4 ·dotQ80x4VNNI
#define FN_Q40X4 ·dotQ40x4VNNI
#define FN_Q40PAIR ·dotQ40PairVNNI
#define MADDW(s, m, acc) VPDPWSSD s, m, acc
#define FN_Q4KX4 ·dotQ4Kx4VNNI
#define FN_Q6KX4 ·dotQ6Kx4VNNI
#include "kernels_int8_amd64.h"

// Word indexes of the four f16 scales in a group of four Q4_0 blocks
// (18 bytes, 9 words apart), for VPERMW.
DATA q40ScaleW<>+0(SB)/8, $0x001b001200090000
DATA q40ScaleW<>+8(SB)/8, $0
DATA q40ScaleW<>+16(SB)/8, $0
DATA q40ScaleW<>+24(SB)/8, $0
DATA q40ScaleW<>+32(SB)/8, $0
DATA q40ScaleW<>+40(SB)/8, $0
DATA q40ScaleW<>+48(SB)/8, $0
DATA q40ScaleW<>+56(SB)/8, $0
GLOBL q40ScaleW<>(SB), RODATA|NOPTR, $64

// Float lanes of the four block scales: block k's scale in lanes 4k..4k+3.
DATA q40ScaleL<>+0(SB)/8, $0
DATA q40ScaleL<>+8(SB)/8, $0
DATA q40ScaleL<>+16(SB)/8, $0x0000000100000001
DATA q40ScaleL<>+24(SB)/8, $0x0000000100000001
DATA q40ScaleL<>+32(SB)/8, $0x0000000200000002
DATA q40ScaleL<>+40(SB)/8, $0x0000000200000002
DATA q40ScaleL<>+48(SB)/8, $0x0000000300000003
DATA q40ScaleL<>+56(SB)/8, $0x0000000300000003
GLOBL q40ScaleL<>(SB), RODATA|NOPTR, $64

// QUADZ: the blocks loop of dotQ40QuadZ: CX blocks of the row at SI
// against qz at DI, scales at DX and corrections at R8, into Z0 and X11;
// Z12..Z14 hold its constants. Clobbers SI, DI, DX, R8, CX.
#define QUADZ(label) \
label: \
	PREFETCHT0 PFD(SI) \
	PREFETCHT0 PFD+64(SI) \
	VPERMW (SI), Z12, Z10 \
	VCVTPH2PS X10, X10 \
	VFNMADD231PS (R8), X10, X11 \
	VMULPS (DX), X10, X10 \
	VPERMPS Z10, Z13, Z5 \
	VMOVDQU 2(SI), X3 \
	VINSERTI32X4 $1, 20(SI), Y3, Y3 \
	VINSERTI32X4 $2, 38(SI), Z3, Z3 \
	VINSERTI32X4 $3, 56(SI), Z3, Z3 \
	VPSRLW $4, Z3, Z4 \
	VPANDD Z14, Z3, Z3 \
	VPANDD Z14, Z4, Z4 \
	VPXORD Z2, Z2, Z2 \
	VPDPBUSD (DI), Z3, Z2 \
	VPDPBUSD 64(DI), Z4, Z2 \
	VCVTDQ2PS Z2, Z3 \
	VFMADD231PS Z5, Z3, Z0 \
	ADDQ $72, SI \
	ADDQ $128, DI \
	ADDQ $16, DX \
	ADDQ $16, R8 \
	SUBQ $4, CX \
	JNZ label

// QUADZSUM: dotQ40PairVNNI's reduction of Z0 and X11 into X0: Y0 + Y1,
// the halves, the corrections.
#define QUADZSUM \
	VEXTRACTF64X4 $1, Z0, Y1 \
	VADDPS Y1, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VADDPS X11, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0

// QUADZCONST loads the loop's constants.
#define QUADZCONST \
	MOVL $0x0f0f0f0f, AX \
	VPBROADCASTD AX, Z14 \
	VMOVDQU16 q40ScaleW<>(SB), Z12 \
	VMOVDQU32 q40ScaleL<>(SB), Z13

// func dotQ40QuadZ(w *byte, qz *int8, d, c *float32, nb int) float32
// dotQ40PairVNNI in 512-bit registers: each group of four blocks in one
// register (block k in 128-bit lane k) against the activation in quad
// layout (y_b[0:16] of the four blocks, then their y_b[16:32]). Lanes 0-7
// of Z0 do what Y0 does there and lanes 8-15 what Y1 does, with the same
// operations in the same order, so the two return the same bits. The
// scales come out of the group by one VPERMW instead of four inserts.
// nb is a multiple of 4, at least 4.
TEXT ·dotQ40QuadZ(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ qz+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ c+24(FP), R8
	MOVQ nb+32(FP), CX
	QUADZCONST
	VPXORD Z0, Z0, Z0
	VXORPS X11, X11, X11
	QUADZ(q40zloop)
	QUADZSUM
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// func dotQ40QuadZRows(w *byte, rb, rows int, qz *int8, d, c *float32, nb int, out *float32)
// dotQ40QuadZ of rows rows, rb bytes apart, into out[0:rows]: one call
// for a chunk of a MatVec instead of one per row.
TEXT ·dotQ40QuadZRows(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), R10
	MOVQ rb+8(FP), R11
	MOVQ rows+16(FP), BX
	MOVQ out+56(FP), R9
	QUADZCONST
q40zrow:
	MOVQ R10, SI
	MOVQ qz+24(FP), DI
	MOVQ d+32(FP), DX
	MOVQ c+40(FP), R8
	MOVQ nb+48(FP), CX
	VPXORD Z0, Z0, Z0
	VXORPS X11, X11, X11
	QUADZ(q40zrloop)
	QUADZSUM
	MOVSS X0, (R9)
	ADDQ $4, R9
	ADDQ R11, R10
	DECQ BX
	JNZ q40zrow
	VZEROUPPER
	RET
