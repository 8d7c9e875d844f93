//go:build amd64 && !purego

#include "textflag.h"

// Lane kernels (see lanes.go): each weight block's 4-byte groups are
// broadcast to every 32-bit lane and multiplied with the lane layout's
// 256-bit loads of eight vectors, one vector per lane. Arguments: w, rb,
// rows, x, d, c, nb, out. Each block prefetches the weights 2 KiB ahead:
// the kernels' many loads per block otherwise keep too few cache misses in
// flight for the hardware prefetcher to stream from memory (measured:
// twice the time per block without).

// The exact Q4_0 kernel computes each lane's row result with the float
// operations, in the order, of MatVec's row kernels (kernels_int8_amd64.h):
// dotQ40Pair over the blocks of whole groups of four, whose float lane k
// of block b sums groups k and k+4 of the block (A[b%4][k], Y16..Y31) and
// whose lane b%4 sums the offset terms (C[b%4], Y8..Y11), reduced as
// ((A0k+A2k)+(A1k+A3k))+Ck, then (x0+x1)+(x2+x3); plus dotQ40 over the
// last nb%4 blocks, one float lane per group (T0..T7, Y20..Y27) and one
// offset sum (Y28), reduced as ((T0+T4)+Ct+(T1+T5))+((T2+T6)+(T3+T7)).
// Y0..Y3 sum groups 0..3 (low nibbles), Y4..Y7 groups 4..7 (high ones;
// in Y0..Y3 too where the pair kernel adds them), Y13 = 0x0f.., Y14 the
// scale, Y15 a temp.

// XSCALE(C): Y14 = the block's weight scale dw; C -= dw*c (fused); Y14 =
// dw times the lane scales; Y0..Y3 zero.
#define XSCALE(C) \
	PREFETCHT0 2048(R10) \
	VCVTPH2PS (R10), X14 \
	VBROADCASTSS X14, Y14 \
	VFNMADD231PS (R12)(R11*1), Y14, C \
	VMULPS (DX)(R11*1), Y14, Y14 \
	VPXOR Y0, Y0, Y0 \
	VPXOR Y1, Y1, Y1 \
	VPXOR Y2, Y2, Y2 \
	VPXOR Y3, Y3, Y3

// XGROUP(k, lo, hi): groups k and k+4 of the block into lo and hi (the
// same register: their sum).
#define XGROUP(k, lo, hi) \
	VPANDD.BCST (2+4*k)(R10), Y13, Y15 \
	VPDPBUSD (32*k)(DI)(R11*8), Y15, lo \
	VPSRLD.BCST $4, (2+4*k)(R10), Y15 \
	VPANDD Y13, Y15, Y15 \
	VPDPBUSD (32*k+128)(DI)(R11*8), Y15, hi

#define XGROUPS \
	XGROUP(0, Y0, Y4) \
	XGROUP(1, Y1, Y5) \
	XGROUP(2, Y2, Y6) \
	XGROUP(3, Y3, Y7)

#define XGROUPS2 \
	XGROUP(0, Y0, Y0) \
	XGROUP(1, Y1, Y1) \
	XGROUP(2, Y2, Y2) \
	XGROUP(3, Y3, Y3)

// XPAIRBLK: one block of a group of four into C and A0..A3 (its lanes k).
#define XPAIRBLK(C, A0, A1, A2, A3) \
	XSCALE(C) \
	XGROUPS2 \
	VCVTDQ2PS Y0, Y0 \
	VCVTDQ2PS Y1, Y1 \
	VCVTDQ2PS Y2, Y2 \
	VCVTDQ2PS Y3, Y3 \
	VFMADD231PS Y14, Y0, A0 \
	VFMADD231PS Y14, Y1, A1 \
	VFMADD231PS Y14, Y2, A2 \
	VFMADD231PS Y14, Y3, A3 \
	ADDQ $32, R11 \
	ADDQ $18, R10

// func q40Lanes8ExactVNNI(w *byte, rb, rows int, x *int8, d *float32, c *float32, nb int, out *float32)
TEXT ·q40Lanes8ExactVNNI(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ out+56(FP), R9
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Y13
q40xrow:
	MOVQ x+24(FP), DI
	MOVQ d+32(FP), DX
	MOVQ c+40(FP), R12
	MOVQ nb+48(FP), R8
	SHRQ $2, R8
	MOVQ SI, R10
	XORQ R11, R11
	VPXORD Y16, Y16, Y16
	VPXORD Y17, Y17, Y17
	VPXORD Y18, Y18, Y18
	VPXORD Y19, Y19, Y19
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23
	VPXORD Y24, Y24, Y24
	VPXORD Y25, Y25, Y25
	VPXORD Y26, Y26, Y26
	VPXORD Y27, Y27, Y27
	VPXORD Y28, Y28, Y28
	VPXORD Y29, Y29, Y29
	VPXORD Y30, Y30, Y30
	VPXORD Y31, Y31, Y31
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	TESTQ R8, R8
	JEQ q40xpairdone
q40xpair:
	XPAIRBLK(Y8, Y16, Y17, Y18, Y19)
	XPAIRBLK(Y9, Y20, Y21, Y22, Y23)
	XPAIRBLK(Y10, Y24, Y25, Y26, Y27)
	XPAIRBLK(Y11, Y28, Y29, Y30, Y31)
	DECQ R8
	JNZ q40xpair
	// dotQ40Pair's reduction; the sum in Y16.
	VADDPS Y24, Y16, Y16
	VADDPS Y25, Y17, Y17
	VADDPS Y26, Y18, Y18
	VADDPS Y27, Y19, Y19
	VADDPS Y28, Y20, Y20
	VADDPS Y29, Y21, Y21
	VADDPS Y30, Y22, Y22
	VADDPS Y31, Y23, Y23
	VADDPS Y20, Y16, Y16
	VADDPS Y21, Y17, Y17
	VADDPS Y22, Y18, Y18
	VADDPS Y23, Y19, Y19
	VADDPS Y8, Y16, Y16
	VADDPS Y9, Y17, Y17
	VADDPS Y10, Y18, Y18
	VADDPS Y11, Y19, Y19
	VADDPS Y17, Y16, Y16
	VADDPS Y19, Y18, Y18
	VADDPS Y18, Y16, Y16
q40xpairdone:
	MOVQ nb+48(FP), CX
	ANDQ $3, CX
	JEQ q40xstore
	// dotQ40 over the last nb%4 blocks, as its one-block loop.
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23
	VPXORD Y24, Y24, Y24
	VPXORD Y25, Y25, Y25
	VPXORD Y26, Y26, Y26
	VPXORD Y27, Y27, Y27
	VPXORD Y28, Y28, Y28
q40xtail:
	XSCALE(Y28)
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	XGROUPS
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y1, Y1
	VCVTDQ2PS Y2, Y2
	VCVTDQ2PS Y3, Y3
	VCVTDQ2PS Y4, Y4
	VCVTDQ2PS Y5, Y5
	VCVTDQ2PS Y6, Y6
	VCVTDQ2PS Y7, Y7
	VFMADD231PS Y14, Y0, Y20
	VFMADD231PS Y14, Y1, Y21
	VFMADD231PS Y14, Y2, Y22
	VFMADD231PS Y14, Y3, Y23
	VFMADD231PS Y14, Y4, Y24
	VFMADD231PS Y14, Y5, Y25
	VFMADD231PS Y14, Y6, Y26
	VFMADD231PS Y14, Y7, Y27
	ADDQ $32, R11
	ADDQ $18, R10
	DECQ CX
	JNZ q40xtail
	VADDPS Y24, Y20, Y20
	VADDPS Y25, Y21, Y21
	VADDPS Y26, Y22, Y22
	VADDPS Y27, Y23, Y23
	VADDPS Y28, Y20, Y20
	VADDPS Y21, Y20, Y20
	VADDPS Y23, Y22, Y22
	VADDPS Y22, Y20, Y20
	// MatVec adds dotQ40's sum to dotQ40Pair's (none below four blocks).
	CMPQ nb+48(FP), $4
	JLT q40xtailonly
	VADDPS Y20, Y16, Y16
	JMP q40xstore
q40xtailonly:
	VMOVUPS Y20, Y16
q40xstore:
	VMOVUPS Y16, (R9)
	ADDQ $32, R9
	ADDQ rb+8(FP), SI
	DECQ BX
	JNZ q40xrow
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
