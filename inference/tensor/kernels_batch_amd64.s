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
