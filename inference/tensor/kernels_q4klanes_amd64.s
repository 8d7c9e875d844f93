//go:build amd64 && !purego

#include "textflag.h"

// Q4_K prompt kernels (matMulQ4K, lanes_q4k_amd64.go): weight rows times
// lane groups of eight Q8_K vectors (lanePackK). Superblocks outer, rows
// inner, so that a superblock's lanes (2 KiB a group) stay in L1 while the
// rows of the chunk pass; each row's float sums live in out between
// superblocks. Per row and superblock each lane gets the int32 sums
// sum_s sc_s*(q.x over sub-block s) and sum_s m_s*(x sums of sub-block s),
// then out += (d*dx)*float(first), out -= (dmin*dx)*float(second). The
// VNNI kernels serve one or two groups per pass (each nibble expanded once
// for both); the AVX2 one builds the same int32 sums from VPMADDUBSW and
// VPMADDWD (at most 2*15*127 per int16), so all return the same bits.
// Arguments: w, rb, rows, x, d, s, nb, out; the stack holds the row's
// superblock scales as int32 (0..31) and its mins as int16 pairs (32..47).

// Registers: SI the superblock's first row, R10 the row, R9 out, BX rows
// left, R8 superblocks left, DI the lanes (R11 = nb*2048 bytes on to the
// second group), DX the lane scales (R12 = nb*32 on), R14 the lane
// sub-block sums (R15 = nb*128 on). Per row: Y2..Y5 a sub-block pair's
// int32 dot products, Y6/Y7 the scaled sums, Y8/Y9 the mins' sums (first
// and second group).

// K4ARGS loads the arguments and the strides between lane groups.
#define K4ARGS \
	MOVQ nb+48(FP), R8 \
	MOVQ R8, R11 \
	SHLQ $11, R11 \
	MOVQ R8, R12 \
	SHLQ $5, R12 \
	MOVQ R8, R15 \
	SHLQ $7, R15 \
	MOVQ w+0(FP), SI \
	MOVQ x+24(FP), DI \
	MOVQ d+32(FP), DX \
	MOVQ s+40(FP), R14

// K4SB starts a superblock's pass over the rows.
#define K4SB \
	MOVQ SI, R10 \
	MOVQ out+56(FP), R9 \
	MOVQ rows+16(FP), BX

// K4SCALES unpacks the row's 6-bit sub-block scales to int32 at 0..31(SP)
// and its mins to int16 at 32..47(SP) (48..63 is scratch).
#define K4SCALES \
	MOVL 12(R10), R13 \
	MOVL 4(R10), AX \
	MOVL AX, CX \
	ANDL $0x3f3f3f3f, CX \
	MOVL CX, 48(SP) \
	SHRL $6, AX \
	ANDL $0x03030303, AX \
	SHLL $4, AX \
	MOVL R13, CX \
	ANDL $0x0f0f0f0f, CX \
	ORL AX, CX \
	MOVL CX, 52(SP) \
	MOVL 8(R10), AX \
	MOVL AX, CX \
	ANDL $0x3f3f3f3f, CX \
	MOVL CX, 56(SP) \
	SHRL $6, AX \
	ANDL $0x03030303, AX \
	SHLL $4, AX \
	SHRL $4, R13 \
	ANDL $0x0f0f0f0f, R13 \
	ORL AX, R13 \
	MOVL R13, 60(SP) \
	VPMOVZXBD 48(SP), Y0 \
	VMOVDQU Y0, 0(SP) \
	VPMOVZXBW 56(SP), X0 \
	VMOVDQU X0, 32(SP)

// K4DS puts the superblock's d and dmin, as floats in every lane, in Y0
// and Y1.
#define K4DS \
	VPBROADCASTW 0(R10), X0 \
	VCVTPH2PS X0, Y0 \
	VPBROADCASTW 2(R10), X1 \
	VCVTPH2PS X1, Y1

// K4NEXT ends a row (out advanced by ob bytes) and a superblock.
#define K4NEXT(ob, row, sb) \
	ADDQ rb+8(FP), R10 \
	ADDQ $ob, R9 \
	DECQ BX \
	JNZ row \
	ADDQ $144, SI \
	ADDQ $2048, DI \
	ADDQ $32, DX \
	ADDQ $128, R14 \
	DECQ R8 \
	JNZ sb \
	VZEROUPPER \
	RET

// V2G(q, x): the weights' four bytes at q(R10), low nibbles against the
// lanes at x, high ones at x+256, for both groups.
#define V2G(q, x) \
	VPANDD.BCST q(R10), Y31, Y0 \
	VPSRLD.BCST $4, q(R10), Y1 \
	VPANDD Y31, Y1, Y1 \
	VPDPBUSD x(DI), Y0, Y2 \
	VPDPBUSD (x+256)(DI), Y1, Y3 \
	VPDPBUSD x(DI)(R11*1), Y0, Y4 \
	VPDPBUSD (x+256)(DI)(R11*1), Y1, Y5

// V2PAIR(p): sub-blocks 2p and 2p+1 (the weights' bytes 32p..32p+31),
// scaled into Y6 and Y7.
#define V2PAIR(p) \
	V2G((16+32*p), (512*p)) \
	V2G((20+32*p), (512*p+32)) \
	V2G((24+32*p), (512*p+64)) \
	V2G((28+32*p), (512*p+96)) \
	V2G((32+32*p), (512*p+128)) \
	V2G((36+32*p), (512*p+160)) \
	V2G((40+32*p), (512*p+192)) \
	V2G((44+32*p), (512*p+224)) \
	VPMULLD.BCST (8*p)(SP), Y2, Y2 \
	VPADDD Y2, Y6, Y6 \
	VPMULLD.BCST (8*p+4)(SP), Y3, Y3 \
	VPADDD Y3, Y6, Y6 \
	VPMULLD.BCST (8*p)(SP), Y4, Y4 \
	VPADDD Y4, Y7, Y7 \
	VPMULLD.BCST (8*p+4)(SP), Y5, Y5 \
	VPADDD Y5, Y7, Y7

#define V2ZERO \
	VPXORD Y2, Y2, Y2 \
	VPXORD Y3, Y3, Y3 \
	VPXORD Y4, Y4, Y4 \
	VPXORD Y5, Y5, Y5

// V2MIN(k): the mins of sub-blocks 2k, 2k+1 against the lanes' sums.
#define V2MIN(k) \
	VMOVDQU (32*k)(R14), Y0 \
	VPDPWSSD.BCST (32+4*k)(SP), Y0, Y8 \
	VMOVDQU (32*k)(R14)(R15*1), Y0 \
	VPDPWSSD.BCST (32+4*k)(SP), Y0, Y9

// V2OUT(dx, sums, mins, o): out at o(R9) += (d*dx)*sums - (dmin*dx)*mins.
#define V2OUT(dx, sums, mins, o) \
	VMULPS dx, Y0, Y10 \
	VMULPS dx, Y1, Y11 \
	VMOVUPS o(R9), Y12 \
	VCVTDQ2PS sums, sums \
	VFMADD231PS Y10, sums, Y12 \
	VCVTDQ2PS mins, mins \
	VFNMADD231PS Y11, mins, Y12 \
	VMOVUPS Y12, o(R9)

TEXT ·q4KLanesVNNI2(SB), NOSPLIT, $64-64
	K4ARGS
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Y31
q4kv2sb:
	K4SB
q4kv2row:
	K4SCALES
	VPXORD Y6, Y6, Y6
	VPXORD Y8, Y8, Y8
	VPXORD Y7, Y7, Y7
	VPXORD Y9, Y9, Y9
	V2ZERO
	V2PAIR(0)
	V2ZERO
	V2PAIR(1)
	V2ZERO
	V2PAIR(2)
	V2ZERO
	V2PAIR(3)
	V2MIN(0)
	V2MIN(1)
	V2MIN(2)
	V2MIN(3)
	K4DS
	V2OUT((DX), Y6, Y8, 0)
	V2OUT((DX)(R12*1), Y7, Y9, 32)
	K4NEXT(64, q4kv2row, q4kv2sb)

// V1G, V1PAIR, V1MIN: V2G, V2PAIR, V2MIN for one group.
#define V1G(q, x) \
	VPANDD.BCST q(R10), Y31, Y0 \
	VPSRLD.BCST $4, q(R10), Y1 \
	VPANDD Y31, Y1, Y1 \
	VPDPBUSD x(DI), Y0, Y2 \
	VPDPBUSD (x+256)(DI), Y1, Y3

#define V1PAIR(p) \
	V1G((16+32*p), (512*p)) \
	V1G((20+32*p), (512*p+32)) \
	V1G((24+32*p), (512*p+64)) \
	V1G((28+32*p), (512*p+96)) \
	V1G((32+32*p), (512*p+128)) \
	V1G((36+32*p), (512*p+160)) \
	V1G((40+32*p), (512*p+192)) \
	V1G((44+32*p), (512*p+224)) \
	VPMULLD.BCST (8*p)(SP), Y2, Y2 \
	VPADDD Y2, Y4, Y4 \
	VPMULLD.BCST (8*p+4)(SP), Y3, Y3 \
	VPADDD Y3, Y4, Y4

#define V1MIN(k) \
	VMOVDQU (32*k)(R14), Y0 \
	VPDPWSSD.BCST (32+4*k)(SP), Y0, Y5

TEXT ·q4KLanesVNNI1(SB), NOSPLIT, $64-64
	K4ARGS
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Y31
q4kv1sb:
	K4SB
q4kv1row:
	K4SCALES
	VPXORD Y4, Y4, Y4
	VPXORD Y5, Y5, Y5
	VPXORD Y2, Y2, Y2
	VPXORD Y3, Y3, Y3
	V1PAIR(0)
	VPXORD Y2, Y2, Y2
	VPXORD Y3, Y3, Y3
	V1PAIR(1)
	VPXORD Y2, Y2, Y2
	VPXORD Y3, Y3, Y3
	V1PAIR(2)
	VPXORD Y2, Y2, Y2
	VPXORD Y3, Y3, Y3
	V1PAIR(3)
	V1MIN(0)
	V1MIN(1)
	V1MIN(2)
	V1MIN(3)
	K4DS
	VMULPS (DX), Y0, Y6
	VMULPS (DX), Y1, Y7
	VMOVUPS 0(R9), Y8
	VCVTDQ2PS Y4, Y4
	VFMADD231PS Y6, Y4, Y8
	VCVTDQ2PS Y5, Y5
	VFNMADD231PS Y7, Y5, Y8
	VMOVUPS Y8, 0(R9)
	K4NEXT(32, q4kv1row, q4kv1sb)

// The AVX2 kernel: VPMADDUBSW and VPMADDWD by ones (Y14) for VPDPBUSD,
// one group; Y15 holds 0x0f bytes.
#define AG(q, x) \
	VPBROADCASTD q(R10), Y0 \
	VPAND Y15, Y0, Y1 \
	VPSRLW $4, Y0, Y0 \
	VPAND Y15, Y0, Y0 \
	VPMADDUBSW x(DI), Y1, Y1 \
	VPMADDWD Y14, Y1, Y1 \
	VPADDD Y1, Y2, Y2 \
	VPMADDUBSW (x+256)(DI), Y0, Y0 \
	VPMADDWD Y14, Y0, Y0 \
	VPADDD Y0, Y3, Y3

#define APAIR(p) \
	AG((16+32*p), (512*p)) \
	AG((20+32*p), (512*p+32)) \
	AG((24+32*p), (512*p+64)) \
	AG((28+32*p), (512*p+96)) \
	AG((32+32*p), (512*p+128)) \
	AG((36+32*p), (512*p+160)) \
	AG((40+32*p), (512*p+192)) \
	AG((44+32*p), (512*p+224)) \
	VPBROADCASTD (8*p)(SP), Y0 \
	VPMULLD Y0, Y2, Y2 \
	VPADDD Y2, Y6, Y6 \
	VPBROADCASTD (8*p+4)(SP), Y0 \
	VPMULLD Y0, Y3, Y3 \
	VPADDD Y3, Y6, Y6

#define AMIN(k) \
	VPBROADCASTD (32+4*k)(SP), Y0 \
	VPMADDWD (32*k)(R14), Y0, Y0 \
	VPADDD Y0, Y8, Y8

TEXT ·q4KLanesAVX(SB), NOSPLIT, $64-64
	K4ARGS
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	VPCMPEQW Y14, Y14, Y14
	VPSRLW $15, Y14, Y14
q4kasb:
	K4SB
q4karow:
	K4SCALES
	VPXOR Y6, Y6, Y6
	VPXOR Y8, Y8, Y8
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	APAIR(0)
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	APAIR(1)
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	APAIR(2)
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	APAIR(3)
	AMIN(0)
	AMIN(1)
	AMIN(2)
	AMIN(3)
	K4DS
	V2OUT((DX), Y6, Y8, 0)
	K4NEXT(32, q4karow, q4kasb)
