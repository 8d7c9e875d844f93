//go:build amd64 && !purego

#include "textflag.h"

// Lane kernels (see lanes.go): each weight block's bytes are broadcast to
// every lane and multiplied with the lane layout's loads of eight vectors.
// Arguments: w, rb, rows, x, d, c, nb, out. Each block prefetches the
// weights 2 KiB ahead: the kernels' many loads per block otherwise keep too
// few cache misses in flight for the hardware prefetcher to stream from
// memory (measured: twice the time per block without).

// The exact Q4_0 kernels compute each lane's row result with the float
// operations, in the order, of MatVec's row kernels (kernels_int8_amd64.h):
// dotQ40Pair over the blocks of whole groups of four, whose float lane k
// of block b sums groups k and k+4 of the block (A[b%4][k]) and whose lane
// b%4 sums the offset terms (C[b%4]), reduced as ((A0k+A2k)+(A1k+A3k))+Ck,
// then (x0+x1)+(x2+x3); plus dotQ40 over the last nb%4 blocks, one float
// lane per group (T0..T7) and one offset sum (Ct), reduced as
// ((T0+T4)+Ct+(T1+T5))+((T2+T6)+(T3+T7)).

// The AVX-512 VNNI kernel works on 512-bit registers over the wide lane
// layout (eight bytes of each vector at a time): 32-bit lane 2j+q holds
// vector j's group 2p+q of a pair p, so one 64-bit broadcast of the
// weights' bytes 8p..8p+7 meets two groups of all eight vectors. A[b%4]
// for groups 0,1 and 2,3 sit in Z16+2(b%4) and Z17+2(b%4), C[b%4] in
// Y8..Y11 (one lane per vector); Z13 holds 0x0f bytes, Z12 the index that
// spreads the eight lane scales over sixteen lanes, Z14 the scale, Z15 a
// temp, Z0..Z3 the block's int32 sums.

// ZSCALE(C): Z14 = the block's weight scale dw times the lane scales,
// spread (lane 2j+q: vector j); C -= dw*c (fused); Z0, Z1 zero.
#define ZSCALE(C) \
	PREFETCHT0 2048(R10) \
	VCVTPH2PS (R10), X14 \
	VBROADCASTSS X14, Y14 \
	VFNMADD231PS (R12)(R11*1), Y14, C \
	VMULPS (DX)(R11*1), Y14, Y14 \
	VPERMPS Z14, Z12, Z14 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1

// ZPAIR(p, lo, hi): groups 2p, 2p+1 (low nibbles) into lo, groups 2p+4,
// 2p+5 (high ones) into hi.
#define ZPAIR(p, lo, hi) \
	VPANDQ.BCST (2+8*p)(R10), Z13, Z15 \
	VPDPBUSD (64*p)(DI)(R11*8), Z15, lo \
	VPSRLQ.BCST $4, (2+8*p)(R10), Z15 \
	VPANDQ Z13, Z15, Z15 \
	VPDPBUSD (64*p+128)(DI)(R11*8), Z15, hi

// ZBLK(C, A01, A23): one block of a group of four into C, A01 and A23.
#define ZBLK(C, A01, A23) \
	ZSCALE(C) \
	ZPAIR(0, Z0, Z0) \
	ZPAIR(1, Z1, Z1) \
	VCVTDQ2PS Z0, Z0 \
	VCVTDQ2PS Z1, Z1 \
	VFMADD231PS Z14, Z0, A01 \
	VFMADD231PS Z14, Z1, A23 \
	ADDQ $32, R11 \
	ADDQ $18, R10

// ZSPLIT(z, even, odd): the even lanes of z (q = 0) into even, the odd
// ones into odd, one lane per vector.
#define ZSPLIT(z, even, odd) \
	VPERMPS z, Z24, even \
	VPERMPS z, Z25, odd

// Lane indexes: laneDup spreads lane j to 2j and 2j+1; laneEven and
// laneOdd gather lanes 2j and 2j+1 into j.
DATA laneDup<>+0(SB)/8, $0x0000000000000000
DATA laneDup<>+8(SB)/8, $0x0000000100000001
DATA laneDup<>+16(SB)/8, $0x0000000200000002
DATA laneDup<>+24(SB)/8, $0x0000000300000003
DATA laneDup<>+32(SB)/8, $0x0000000400000004
DATA laneDup<>+40(SB)/8, $0x0000000500000005
DATA laneDup<>+48(SB)/8, $0x0000000600000006
DATA laneDup<>+56(SB)/8, $0x0000000700000007
GLOBL laneDup<>(SB), RODATA|NOPTR, $64
DATA laneEven<>+0(SB)/8, $0x0000000200000000
DATA laneEven<>+8(SB)/8, $0x0000000600000004
DATA laneEven<>+16(SB)/8, $0x0000000a00000008
DATA laneEven<>+24(SB)/8, $0x0000000e0000000c
DATA laneEven<>+32(SB)/8, $0x0000000200000000
DATA laneEven<>+40(SB)/8, $0x0000000600000004
DATA laneEven<>+48(SB)/8, $0x0000000a00000008
DATA laneEven<>+56(SB)/8, $0x0000000e0000000c
GLOBL laneEven<>(SB), RODATA|NOPTR, $64
DATA laneOdd<>+0(SB)/8, $0x0000000300000001
DATA laneOdd<>+8(SB)/8, $0x0000000700000005
DATA laneOdd<>+16(SB)/8, $0x0000000b00000009
DATA laneOdd<>+24(SB)/8, $0x0000000f0000000d
DATA laneOdd<>+32(SB)/8, $0x0000000300000001
DATA laneOdd<>+40(SB)/8, $0x0000000700000005
DATA laneOdd<>+48(SB)/8, $0x0000000b00000009
DATA laneOdd<>+56(SB)/8, $0x0000000f0000000d
GLOBL laneOdd<>(SB), RODATA|NOPTR, $64

// func q40Lanes8ExactZ(w *byte, rb, rows int, x *int8, d *float32, c *float32, nb int, out *float32)
TEXT ·q40Lanes8ExactZ(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ out+56(FP), R9
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z13
	VMOVDQU32 laneDup<>(SB), Z12
	VMOVDQU32 laneEven<>(SB), Z24
	VMOVDQU32 laneOdd<>(SB), Z25
zrow:
	MOVQ x+24(FP), DI
	MOVQ d+32(FP), DX
	MOVQ c+40(FP), R12
	MOVQ nb+48(FP), R8
	SHRQ $2, R8
	MOVQ SI, R10
	XORQ R11, R11
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	TESTQ R8, R8
	JEQ zpairdone
zpair:
	ZBLK(Y8, Z16, Z17)
	ZBLK(Y9, Z18, Z19)
	ZBLK(Y10, Z20, Z21)
	ZBLK(Y11, Z22, Z23)
	DECQ R8
	JNZ zpair
	// dotQ40Pair's reduction; the sum in Y16.
	VADDPS Z20, Z16, Z16
	VADDPS Z21, Z17, Z17
	VADDPS Z22, Z18, Z18
	VADDPS Z23, Z19, Z19
	VADDPS Z18, Z16, Z16
	VADDPS Z19, Z17, Z17
	ZSPLIT(Z16, Z26, Z27)
	ZSPLIT(Z17, Z28, Z29)
	VADDPS Y8, Y26, Y26
	VADDPS Y9, Y27, Y27
	VADDPS Y10, Y28, Y28
	VADDPS Y11, Y29, Y29
	VADDPS Y27, Y26, Y26
	VADDPS Y29, Y28, Y28
	VADDPS Y28, Y26, Y16
zpairdone:
	MOVQ nb+48(FP), CX
	ANDQ $3, CX
	JEQ zstore
	// dotQ40 over the last nb%4 blocks, as its one-block loop: T0,T1 in
	// Z20, T2,T3 in Z21, T4,T5 in Z22, T6,T7 in Z23, Ct in Y28.
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Y28, Y28, Y28
ztail:
	ZSCALE(Y28)
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	ZPAIR(0, Z0, Z2)
	ZPAIR(1, Z1, Z3)
	VCVTDQ2PS Z0, Z0
	VCVTDQ2PS Z1, Z1
	VCVTDQ2PS Z2, Z2
	VCVTDQ2PS Z3, Z3
	VFMADD231PS Z14, Z0, Z20
	VFMADD231PS Z14, Z1, Z21
	VFMADD231PS Z14, Z2, Z22
	VFMADD231PS Z14, Z3, Z23
	ADDQ $32, R11
	ADDQ $18, R10
	DECQ CX
	JNZ ztail
	VADDPS Z22, Z20, Z20
	VADDPS Z23, Z21, Z21
	ZSPLIT(Z20, Z26, Z27)
	ZSPLIT(Z21, Z29, Z30)
	VADDPS Y28, Y26, Y26
	VADDPS Y27, Y26, Y26
	VADDPS Y30, Y29, Y29
	VADDPS Y29, Y26, Y26
	// MatVec adds dotQ40's sum to dotQ40Pair's (none below four blocks).
	CMPQ nb+48(FP), $4
	JLT ztailonly
	VADDPS Y26, Y16, Y16
	JMP zstore
ztailonly:
	VMOVUPS Y26, Y16
zstore:
	VMOVUPS Y16, (R9)
	ADDQ $32, R9
	ADDQ rb+8(FP), SI
	DECQ BX
	JNZ zrow
	VZEROUPPER
	RET

// The exact AVX2 Q4_0 kernel has too few registers for the twenty
// accumulators: it passes over each row four times, pass m taking the
// blocks b%4 == m of the whole groups of four (A[m][k] in Y0..Y3, C[m] in
// Y7; each accumulator still sums its blocks in order), and leaves their
// sums on the stack: A[m][k] at 128m+32k(SP), C[m] at 512+32m, the tail's
// offset sum at 640, the pair sum at 672. Y10/Y11 hold the block's low and
// high nibbles in both halves, Y15 int16 ones, Y13 0x0f bytes.

// XAK(imm, k, a): groups k and k+4 (vpshufd imm of Y10 and Y11) against
// the lanes, summed as int16 (at most 4*15*128), then as int32 and in
// float, fused into a with the scale Y14.
#define XAK(imm, k, a) \
	VPSHUFD $imm, Y10, Y4 \
	VPMADDUBSW (32*k)(DI)(R11*8), Y4, Y8 \
	VPSHUFD $imm, Y11, Y5 \
	VPMADDUBSW (32*k+128)(DI)(R11*8), Y5, Y9 \
	VPADDW Y9, Y8, Y8 \
	VPMADDWD Y15, Y8, Y8 \
	VCVTDQ2PS Y8, Y8 \
	VFMADD231PS Y14, Y8, a

// XTK(imm, k, a, b): groups k and k+4 apart, into a and b.
#define XTK(imm, k, a, b) \
	VPSHUFD $imm, Y10, Y8 \
	VPMADDUBSW (32*k)(DI)(R11*8), Y8, Y8 \
	VPSHUFD $imm, Y11, Y9 \
	VPMADDUBSW (32*k+128)(DI)(R11*8), Y9, Y9 \
	VPMADDWD Y15, Y8, Y8 \
	VPMADDWD Y15, Y9, Y9 \
	VCVTDQ2PS Y8, Y8 \
	VCVTDQ2PS Y9, Y9 \
	VFMADD231PS Y14, Y8, a \
	VFMADD231PS Y14, Y9, b

// XAVXBLK(C): scale, offset term into C, nibbles of the block at R10.
#define XAVXBLK(C) \
	PREFETCHT0 2048(R10) \
	VCVTPH2PS (R10), X14 \
	VBROADCASTSS X14, Y14 \
	VFNMADD231PS (R12)(R11*1), Y14, C \
	VMULPS (DX)(R11*1), Y14, Y14 \
	VBROADCASTI128 2(R10), Y12 \
	VPAND Y13, Y12, Y10 \
	VPSRLW $4, Y12, Y11 \
	VPAND Y13, Y11, Y11

#define XAVXPASS(m, loop) \
	LEAQ (18*m)(SI), R10 \
	MOVQ $(32*m), R11 \
	MOVQ R8, CX \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	VXORPS Y7, Y7, Y7 \
loop: \
	XAVXBLK(Y7) \
	XAK(0x00, 0, Y0) \
	XAK(0x55, 1, Y1) \
	XAK(0xaa, 2, Y2) \
	XAK(0xff, 3, Y3) \
	ADDQ $72, R10 \
	ADDQ $128, R11 \
	DECQ CX \
	JNZ loop \
	VMOVUPS Y0, (128*m)(SP) \
	VMOVUPS Y1, (128*m+32)(SP) \
	VMOVUPS Y2, (128*m+64)(SP) \
	VMOVUPS Y3, (128*m+96)(SP) \
	VMOVUPS Y7, (512+32*m)(SP)

// XAVXRED(k, r): ((A0k+A2k)+(A1k+A3k))+Ck into r.
#define XAVXRED(k, r) \
	VMOVUPS (32*k)(SP), r \
	VADDPS (256+32*k)(SP), r, r \
	VMOVUPS (128+32*k)(SP), Y4 \
	VADDPS (384+32*k)(SP), Y4, Y4 \
	VADDPS Y4, r, r \
	VADDPS (512+32*k)(SP), r, r

// func q40Lanes8ExactAVX(w *byte, rb, rows int, x *int8, d *float32, c *float32, nb int, out *float32)
TEXT ·q40Lanes8ExactAVX(SB), $704-64
	MOVQ w+0(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ out+56(FP), R9
	MOVQ x+24(FP), DI
	MOVQ d+32(FP), DX
	MOVQ c+40(FP), R12
	VPCMPEQW Y15, Y15, Y15
	VPSRLW $15, Y15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
q40arow:
	MOVQ nb+48(FP), R8
	SHRQ $2, R8
	JEQ q40apairdone
	XAVXPASS(0, q40apass0)
	XAVXPASS(1, q40apass1)
	XAVXPASS(2, q40apass2)
	XAVXPASS(3, q40apass3)
	XAVXRED(0, Y0)
	XAVXRED(1, Y1)
	XAVXRED(2, Y2)
	XAVXRED(3, Y3)
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VMOVUPS Y0, 672(SP)
q40apairdone:
	MOVQ nb+48(FP), CX
	ANDQ $3, CX
	JNE q40atail
	VMOVUPS 672(SP), Y0
	JMP q40astore
q40atail:
	// dotQ40 over the last nb%4 blocks: T0..T7 in Y0..Y7.
	MOVQ R8, AX
	IMULQ $72, AX
	LEAQ (SI)(AX*1), R10
	MOVQ R8, R11
	SHLQ $7, R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VMOVUPS Y7, 640(SP)
q40atailblk:
	VMOVUPS 640(SP), Y9
	XAVXBLK(Y9)
	VMOVUPS Y9, 640(SP)
	XTK(0x00, 0, Y0, Y4)
	XTK(0x55, 1, Y1, Y5)
	XTK(0xaa, 2, Y2, Y6)
	XTK(0xff, 3, Y3, Y7)
	ADDQ $18, R10
	ADDQ $32, R11
	DECQ CX
	JNZ q40atailblk
	VADDPS Y4, Y0, Y0
	VADDPS 640(SP), Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	TESTQ R8, R8
	JEQ q40astore
	VADDPS 672(SP), Y0, Y0
q40astore:
	VMOVUPS Y0, (R9)
	ADDQ $32, R9
	ADDQ rb+8(FP), SI
	DECQ BX
	JNZ q40arow
	VZEROUPPER
	RET
