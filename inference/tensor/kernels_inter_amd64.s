//go:build amd64 && !purego

#include "textflag.h"

// Kernels of interleaved Q4_0 rows (interleave.go): sixteen rows a tile,
// block by block; a block of a tile is 32 bytes of scales (row r's f16 at
// 2r) and four 64-byte quarters p, row r's weight bytes 4p..4p+3 in
// dword r. One 512-bit register holds a quarter of all sixteen rows: its
// low nibbles are group p (elements 4p..4p+3) and its high nibbles group
// p+4 of every row, so a group's four activation bytes are broadcast
// against sixteen rows at once and no sums cross lanes.
//
// Each row's result, in either kernel and for any vector: per block b, the
// exact int32 sum I of (q-8)*x (VPDPBUSD over the nibbles, minus 8*sum(x)
// from o[b]); then acc += float(I) * (dw*dx), the two products and the sum
// rounded one by one, over the blocks in order. interleave_test.go's
// reference does the same in Go.

// INTERUNP(off, lo, hi): quarter at off(SI): its low nibbles into lo, its
// high ones into hi (Z14: 0x0f bytes).
#define INTERUNP(off, lo, hi) \
	VMOVDQU64 off(SI), lo \
	VPSRLW $4, lo, hi \
	VPANDD Z14, lo, lo \
	VPANDD Z14, hi, hi

// INTERPF prefetches the weights 4 KiB ahead of block SI. The lanes
// kernel, bound by arithmetic, needs it (0.21 against 0.30-0.39 CPU ns per
// block and vector without); the lone one streams faster without
// (BenchmarkQ40Step: 0.80-1.03 of the pair kernels' time, against
// 1.03-1.10 with it): one sequential stream a core is what the hardware
// prefetcher follows best.
#define INTERPF \
	PREFETCHT0 4096(SI) \
	PREFETCHT0 4160(SI) \
	PREFETCHT0 4224(SI) \
	PREFETCHT0 4288(SI) \
	PREFETCHT0 4352(SI)

// INTERBLK loads block SI of a tile: scales into Z15, groups into Z0..Z7.
#define INTERBLK \
	VCVTPH2PS (SI), Z15 \
	INTERUNP(32, Z0, Z4) \
	INTERUNP(96, Z1, Z5) \
	INTERUNP(160, Z2, Z6) \
	INTERUNP(224, Z3, Z7)

// INTERVEC(xo, so, acc): the block against the vector whose 32 bytes are
// at xo(DI), its scale at so(DX) and offset term at so(R12), into acc.
#define INTERVEC(xo, so, acc) \
	VPXORD Z8, Z8, Z8 \
	VPDPBUSD.BCST (xo+0)(DI), Z0, Z8 \
	VPDPBUSD.BCST (xo+4)(DI), Z1, Z8 \
	VPDPBUSD.BCST (xo+8)(DI), Z2, Z8 \
	VPDPBUSD.BCST (xo+12)(DI), Z3, Z8 \
	VPDPBUSD.BCST (xo+16)(DI), Z4, Z8 \
	VPDPBUSD.BCST (xo+20)(DI), Z5, Z8 \
	VPDPBUSD.BCST (xo+24)(DI), Z6, Z8 \
	VPDPBUSD.BCST (xo+28)(DI), Z7, Z8 \
	VPSUBD.BCST so(R12), Z8, Z8 \
	VCVTDQ2PS Z8, Z8 \
	VMULPS.BCST so(DX), Z15, Z9 \
	VMULPS Z9, Z8, Z8 \
	VADDPS Z8, acc, acc

#define INTERCONST \
	MOVL $0x0f0f0f0f, AX \
	VPBROADCASTD AX, Z14

// func q40InterRows(w *byte, tiles int, qs *int8, d *float32, o *int32, nb int, out *float32)
// One vector (qs, d, o: its Q8_0 blocks, scales and 8*sum per block)
// against tiles tiles from w on; sixteen results a tile into out.
TEXT ·q40InterRows(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ tiles+8(FP), BX
	MOVQ out+48(FP), R9
	INTERCONST
irtile:
	MOVQ qs+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ o+32(FP), R12
	MOVQ nb+40(FP), CX
	VPXORD Z16, Z16, Z16
irblk:
	INTERBLK
	INTERVEC(0, 0, Z16)
	ADDQ $288, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, R12
	DECQ CX
	JNZ irblk
	VMOVUPS Z16, (R9)
	ADDQ $64, R9
	DECQ BX
	JNZ irtile
	VZEROUPPER
	RET

// func q40InterLanes(w *byte, tiles int, x *int8, d *float32, o *int32, nb int, out *float32)
// Eight vectors against tiles tiles from w on: x holds, block by block,
// the eight vectors' 32 quantized values each (256 bytes a block); d and
// o their scales and offset terms, eight a block. out gets, per tile,
// sixteen results of each vector in turn.
TEXT ·q40InterLanes(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ tiles+8(FP), BX
	MOVQ out+48(FP), R9
	INTERCONST
iltile:
	MOVQ x+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ o+32(FP), R12
	MOVQ nb+40(FP), CX
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
ilblk:
	INTERPF
	INTERBLK
	INTERVEC(0, 0, Z16)
	INTERVEC(32, 4, Z17)
	INTERVEC(64, 8, Z18)
	INTERVEC(96, 12, Z19)
	INTERVEC(128, 16, Z20)
	INTERVEC(160, 20, Z21)
	INTERVEC(192, 24, Z22)
	INTERVEC(224, 28, Z23)
	ADDQ $288, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R12
	DECQ CX
	JNZ ilblk
	VMOVUPS Z16, (R9)
	VMOVUPS Z17, 64(R9)
	VMOVUPS Z18, 128(R9)
	VMOVUPS Z19, 192(R9)
	VMOVUPS Z20, 256(R9)
	VMOVUPS Z21, 320(R9)
	VMOVUPS Z22, 384(R9)
	VMOVUPS Z23, 448(R9)
	ADDQ $512, R9
	DECQ BX
	JNZ iltile
	VZEROUPPER
	RET

// The same order on rows in the plain layout (Q4_0 products of a plain
// matrix, and the rows after a matrix's tiles, where the CPU has the tile
// kernels): q40SeqRows for one vector, q40SeqLanes for the lane layout.

// Word indexes of the four f16 scales in a group of four Q4_0 blocks, for
// VPERMW (as q40ScaleW), and the dword indexes that gather the four block
// sums out of a register's 128-bit lanes.
DATA seqScaleW<>+0(SB)/8, $0x001b001200090000
DATA seqScaleW<>+8(SB)/8, $0
DATA seqScaleW<>+16(SB)/8, $0
DATA seqScaleW<>+24(SB)/8, $0
DATA seqScaleW<>+32(SB)/8, $0
DATA seqScaleW<>+40(SB)/8, $0
DATA seqScaleW<>+48(SB)/8, $0
DATA seqScaleW<>+56(SB)/8, $0
GLOBL seqScaleW<>(SB), RODATA|NOPTR, $64
DATA seqGather<>+0(SB)/8, $0x0000000400000000
DATA seqGather<>+8(SB)/8, $0x0000000c00000008
DATA seqGather<>+16(SB)/8, $0
DATA seqGather<>+24(SB)/8, $0
DATA seqGather<>+32(SB)/8, $0
DATA seqGather<>+40(SB)/8, $0
DATA seqGather<>+48(SB)/8, $0
DATA seqGather<>+56(SB)/8, $0
GLOBL seqGather<>(SB), RODATA|NOPTR, $64

// SEQBLK: the group of four blocks at src against the activation at DI
// (scales DX, offset terms R8): the blocks' scales times the activation's
// into xsc, their exact int32 sums of (q-8)*x, in block order, converted
// and scaled, into xsum (the low lanes of sum); w, hi and t are
// clobbered. A register appears under each width it is used at.
#define SEQBLK(src, sc, xsc, w, yw, xw, hi, sum, xsum, t) \
	VPERMW (src), Z12, sc \
	VCVTPH2PS xsc, xsc \
	VMULPS (DX), xsc, xsc \
	VMOVDQU 2(src), xw \
	VINSERTI32X4 $1, 20(src), yw, yw \
	VINSERTI32X4 $2, 38(src), w, w \
	VINSERTI32X4 $3, 56(src), w, w \
	VPSRLW $4, w, hi \
	VPANDD Z14, w, w \
	VPANDD Z14, hi, hi \
	VPXORD sum, sum, sum \
	VPDPBUSD (DI), w, sum \
	VPDPBUSD 64(DI), hi, sum \
	VPSHUFD $0x4e, sum, t \
	VPADDD t, sum, sum \
	VPSHUFD $0xb1, sum, t \
	VPADDD t, sum, sum \
	VPERMD sum, Z13, sum \
	VPSUBD (R8), xsum, xsum \
	VCVTDQ2PS xsum, xsum \
	VMULPS xsc, xsum, xsum

// SEQADD(v, acc, t): the four products in v added to acc one by one.
#define SEQADD(v, acc, t) \
	VADDSS v, acc, acc \
	VMOVSHDUP v, t \
	VADDSS t, acc, acc \
	VMOVHLPS v, v, t \
	VADDSS t, acc, acc \
	VPERMILPS $0xff, v, t \
	VADDSS t, acc, acc

// func q40SeqRows(w *byte, rb, rows int, qz *int8, d *float32, o *int32, ng int, out *float32)
// For each of rows rows (rb bytes apart), the sum over its first 4*ng
// blocks against the activation in quad layout (prepareQ40) into out.
// The four block sums of a group come out of one register's 128-bit lanes
// and are added to the row's sum one by one. (Two rows side by side, so
// that two chains of additions overlap, took 1.6 times as long: two
// streams a core starve the prefetchers.)
TEXT ·q40SeqRows(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), R10
	MOVQ rows+16(FP), BX
	MOVQ out+56(FP), R9
	INTERCONST
	VMOVDQU16 seqScaleW<>(SB), Z12
	VMOVDQU32 seqGather<>(SB), Z13
sqrow:
	MOVQ R10, SI
	MOVQ qz+24(FP), DI
	MOVQ d+32(FP), DX
	MOVQ o+40(FP), R8
	MOVQ ng+48(FP), CX
	VXORPS X0, X0, X0
sqgrp:
	PREFETCHT0 4096(SI)
	PREFETCHT0 4160(SI)
	SEQBLK(SI, Z10, X10, Z3, Y3, X3, Z4, Z2, X2, Z5)
	SEQADD(X2, X0, X5)
	ADDQ $72, SI
	ADDQ $128, DI
	ADDQ $16, DX
	ADDQ $16, R8
	DECQ CX
	JNZ sqgrp
	VMOVSS X0, (R9)
	ADDQ $4, R9
	ADDQ rb+8(FP), R10
	DECQ BX
	JNZ sqrow
	VZEROUPPER
	RET

// SEQGRP(imm, k): groups k (low nibbles, Y10) and k+4 (high, Y11) of the
// eight vectors into Y0 and Y1.
#define SEQGRP(imm, k) \
	VPSHUFD $imm, Y10, Y4 \
	VPDPBUSD (32*k)(DI)(R11*8), Y4, Y0 \
	VPSHUFD $imm, Y11, Y5 \
	VPDPBUSD (32*k+128)(DI)(R11*8), Y5, Y1

// func q40SeqLanes(w *byte, rb, rows int, x *int8, d *float32, o *int32, nb int, out *float32)
// The lane kernel in this order: the lane layout of lanes.go (four bytes
// of each vector at a time), o the vectors' 8*sum per block; eight
// results a row, one per vector.
TEXT ·q40SeqLanes(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ out+56(FP), R9
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Y13
slrow:
	MOVQ x+24(FP), DI
	MOVQ d+32(FP), DX
	MOVQ o+40(FP), R12
	MOVQ nb+48(FP), CX
	MOVQ SI, R10
	XORQ R11, R11
	VXORPS Y15, Y15, Y15
slblk:
	PREFETCHT0 2048(R10)
	VCVTPH2PS (R10), X14
	VBROADCASTSS X14, Y14
	VMULPS (DX)(R11*1), Y14, Y14
	VBROADCASTI128 2(R10), Y12
	VPAND Y13, Y12, Y10
	VPSRLW $4, Y12, Y11
	VPAND Y13, Y11, Y11
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	SEQGRP(0x00, 0)
	SEQGRP(0x55, 1)
	SEQGRP(0xaa, 2)
	SEQGRP(0xff, 3)
	VPADDD Y1, Y0, Y0
	VPSUBD (R12)(R11*1), Y0, Y0
	VCVTDQ2PS Y0, Y0
	VMULPS Y14, Y0, Y0
	VADDPS Y0, Y15, Y15
	ADDQ $32, R11
	ADDQ $18, R10
	DECQ CX
	JNZ slblk
	VMOVUPS Y15, (R9)
	ADDQ $32, R9
	ADDQ rb+8(FP), SI
	DECQ BX
	JNZ slrow
	VZEROUPPER
	RET
