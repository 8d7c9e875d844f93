//go:build amd64 && !purego

#include "textflag.h"

// Lane kernels (see lanes.go): each weight block's 4-byte groups are
// broadcast to every 32-bit lane and multiplied with the lane layout's
// 256-bit loads of eight vectors. The AVX2 kernel broadcasts from registers
// with vpshufd (storing the expanded block and reloading it stalls on store
// forwarding); the AVX512 ones broadcast straight from the weights with an
// embedded-broadcast vpandd/vpxord, which also expands the group, so no
// shuffle unit is needed. Registers common to all:
//   SI  row start, R10 block pointer, BX rows left, CX blocks left
//   DI  lane activations, DX lane scales, R12 lane offsets (Q4_0: c), R9 out
//   R11 32 * the block index (DX, R12 step 32 bytes a block, DI 256)
//   Y0  float sums of the row (one lane per vector), Y11 block scale
// Arguments: w, rb, rows, x, d, s, nb, out. Each block prefetches the
// weights 2 KiB ahead: the kernels' many loads per block otherwise keep too
// few cache misses in flight for the hardware prefetcher to stream from
// memory (measured: twice the time per block without).

#define LANE_ROW_START \
	MOVQ x+24(FP), DI \
	MOVQ d+32(FP), DX \
	MOVQ s+40(FP), R12 \
	MOVQ nb+48(FP), CX \
	MOVQ SI, R10 \
	XORQ R11, R11 \
	VXORPS Y0, Y0, Y0

// LANE_SCALE: Y11 = the f16 block scale at (R10), broadcast (the three
// halves converted after it, the block's next bytes, go unused).
#define LANE_SCALE \
	VCVTPH2PS (R10), X11 \
	VBROADCASTSS X11, Y11

// LANE_BLOCK_END: Y0 += float(Y6) * scale * lane scales; next block.
#define LANE_BLOCK_END \
	VCVTDQ2PS Y6, Y6 \
	VMULPS (DX)(R11*1), Y11, Y11 \
	VFMADD231PS Y11, Y6, Y0 \
	ADDQ $32, R11

// LANE_ROW_END: store the row's eight results, next row.
#define LANE_ROW_END \
	VMOVUPS Y0, (R9) \
	ADDQ $32, R9 \
	ADDQ rb+8(FP), SI \
	DECQ BX

// MADDSHUF4(src, base): MADDUBS2 of groups base..base+3, broadcast from
// register src (its 16 bytes in both halves) with vpshufd.
#define MADDSHUF4(src, base) \
	VPSHUFD $0x00, src, Y4 \
	VPMADDUBSW (32*base)(DI)(R11*8), Y4, Y8 \
	VPSHUFD $0x55, src, Y5 \
	VPMADDUBSW (32*base+32)(DI)(R11*8), Y5, Y9 \
	VPADDW Y8, Y6, Y6 \
	VPADDW Y9, Y7, Y7 \
	VPSHUFD $0xaa, src, Y4 \
	VPMADDUBSW (32*base+64)(DI)(R11*8), Y4, Y8 \
	VPSHUFD $0xff, src, Y5 \
	VPMADDUBSW (32*base+96)(DI)(R11*8), Y5, Y9 \
	VPADDW Y8, Y6, Y6 \
	VPADDW Y9, Y7, Y7

// func q40Lanes8AVX(w *byte, rb, rows int, x *int8, d *float32, c *float32, nb int, out *float32)
// Q4_0 rows: unsigned nibbles times the signed activations (vpmaddubsw;
// 8 groups of pair sums stay within 16 bits: 8*2*15*128 < 2^15); the
// nibbles' offset 8 apart, in float, as MatVec's kernel does (so that both
// round the cancelling terms alike): -scale * c per block into Y14.
TEXT ·q40Lanes8AVX(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ out+56(FP), R9
	VPCMPEQW Y15, Y15, Y15
	VPSRLW $15, Y15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
q40avxrow:
	LANE_ROW_START
	VXORPS Y14, Y14, Y14
q40avxblk:
	PREFETCHT0 2048(R10)
	LANE_SCALE
	VBROADCASTI128 2(R10), Y12
	VPAND Y13, Y12, Y2
	VPSRLW $4, Y12, Y3
	VPAND Y13, Y3, Y3
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	MADDSHUF4(Y2, 0)
	MADDSHUF4(Y3, 4)
	VPADDW Y7, Y6, Y6
	VPMADDWD Y15, Y6, Y6
	VFNMADD231PS (R12)(R11*1), Y11, Y14
	LANE_BLOCK_END
	ADDQ $18, R10
	DECQ CX
	JNZ q40avxblk
	VADDPS Y14, Y0, Y0
	LANE_ROW_END
	JNZ q40avxrow
	VZEROUPPER
	RET

// The VNNI kernels run two rows at a time (the second rb bytes after the
// first, R13 = rb), so that each activation load (Y15) serves both. Row A:
// sums Y6/Y7, scale Y11, result Y0; row B: Y8/Y9, Y14, Y1. Y6 and Y8 start
// at the lanes' offset corrections.

#define LANE_PAIR_START \
	LANE_ROW_START \
	VXORPS Y1, Y1, Y1

#define LANE_INIT2 \
	VMOVDQU (R12)(R11*1), Y6 \
	VMOVDQU (R12)(R11*1), Y8 \
	VPXOR Y7, Y7, Y7 \
	VPXOR Y9, Y9, Y9

// Q4_0's offset goes apart, in float as MatVec's kernel applies it: Y2 and
// Y3 (Y2 for a single row) sum -scale * c, c = 8*d*sum(q) per lane block.
#define Q40_INIT2 \
	VPXOR Y6, Y6, Y6 \
	VPXOR Y8, Y8, Y8 \
	VPXOR Y7, Y7, Y7 \
	VPXOR Y9, Y9, Y9 \
	VFNMADD231PS (R12)(R11*1), Y11, Y2 \
	VFNMADD231PS (R12)(R11*1), Y14, Y3

#define Q40_INIT1 \
	VPXOR Y6, Y6, Y6 \
	VPXOR Y7, Y7, Y7 \
	VFNMADD231PS (R12)(R11*1), Y11, Y2

#define Q80_INIT1 \
	VMOVDQU (R12)(R11*1), Y6 \
	VPXOR Y7, Y7, Y7

#define LANE_SCALE2 \
	VCVTPH2PS (R10), X11 \
	VBROADCASTSS X11, Y11 \
	VCVTPH2PS (R10)(R13*1), X14 \
	VBROADCASTSS X14, Y14

#define LANE_BLOCK_END2 \
	VCVTDQ2PS Y6, Y6 \
	VCVTDQ2PS Y8, Y8 \
	VMOVUPS (DX)(R11*1), Y15 \
	VMULPS Y15, Y11, Y11 \
	VMULPS Y15, Y14, Y14 \
	VFMADD231PS Y11, Y6, Y0 \
	VFMADD231PS Y14, Y8, Y1 \
	ADDQ $32, R11

#define LANE_PAIR_END \
	VMOVUPS Y0, (R9) \
	VMOVUPS Y1, 32(R9) \
	ADDQ $64, R9 \
	LEAQ (SI)(R13*2), SI \
	SUBQ $2, BX

// BG2(op, woff, mask, k, a, b): group k of the activations against the
// four weight bytes at woff of both rows, each broadcast and expanded by
// op with mask; sums into a and b.
#define BG2(op, woff, mask, k, a, b) \
	VMOVDQU (32*k)(DI)(R11*8), Y15 \
	op woff(R10), mask, Y4 \
	VPDPBUSD Y15, Y4, a \
	op woff(R10)(R13*1), mask, Y5 \
	VPDPBUSD Y15, Y5, b

// BG1(op, woff, mask, k, a): BG2 for row A alone.
#define BG1(op, woff, mask, k, a) \
	op woff(R10), mask, Y4 \
	VPDPBUSD (32*k)(DI)(R11*8), Y4, a

// Q4_0: groups 0..3 are the low nibbles of bytes 0..15 (mask Y13 =
// 0x0f..), groups 4..7 the high ones, masked in place with Y12 = 0xf0..
// (16 times the nibble) into Y7/Y9 and divided by 16 at the end, exactly.
#define Q40_PAIR \
	BG2(VPANDD.BCST, 2, Y13, 0, Y6, Y8) \
	BG2(VPANDD.BCST, 6, Y13, 1, Y6, Y8) \
	BG2(VPANDD.BCST, 10, Y13, 2, Y6, Y8) \
	BG2(VPANDD.BCST, 14, Y13, 3, Y6, Y8) \
	BG2(VPANDD.BCST, 2, Y12, 4, Y7, Y9) \
	BG2(VPANDD.BCST, 6, Y12, 5, Y7, Y9) \
	BG2(VPANDD.BCST, 10, Y12, 6, Y7, Y9) \
	BG2(VPANDD.BCST, 14, Y12, 7, Y7, Y9) \
	VPSRAD $4, Y7, Y7 \
	VPSRAD $4, Y9, Y9 \
	VPADDD Y7, Y6, Y6 \
	VPADDD Y9, Y8, Y8

#define Q40_ONE \
	BG1(VPANDD.BCST, 2, Y13, 0, Y6) \
	BG1(VPANDD.BCST, 6, Y13, 1, Y6) \
	BG1(VPANDD.BCST, 10, Y13, 2, Y6) \
	BG1(VPANDD.BCST, 14, Y13, 3, Y6) \
	BG1(VPANDD.BCST, 2, Y12, 4, Y7) \
	BG1(VPANDD.BCST, 6, Y12, 5, Y7) \
	BG1(VPANDD.BCST, 10, Y12, 6, Y7) \
	BG1(VPANDD.BCST, 14, Y12, 7, Y7) \
	VPSRAD $4, Y7, Y7 \
	VPADDD Y7, Y6, Y6

// Q8_0: the weights xor 0x80 (Y13), that is plus 128, as unsigned bytes.
#define Q80_PAIR \
	BG2(VPXORD.BCST, 2, Y13, 0, Y6, Y8) \
	BG2(VPXORD.BCST, 6, Y13, 1, Y7, Y9) \
	BG2(VPXORD.BCST, 10, Y13, 2, Y6, Y8) \
	BG2(VPXORD.BCST, 14, Y13, 3, Y7, Y9) \
	BG2(VPXORD.BCST, 18, Y13, 4, Y6, Y8) \
	BG2(VPXORD.BCST, 22, Y13, 5, Y7, Y9) \
	BG2(VPXORD.BCST, 26, Y13, 6, Y6, Y8) \
	BG2(VPXORD.BCST, 30, Y13, 7, Y7, Y9) \
	VPADDD Y7, Y6, Y6 \
	VPADDD Y9, Y8, Y8

#define Q80_ONE \
	BG1(VPXORD.BCST, 2, Y13, 0, Y6) \
	BG1(VPXORD.BCST, 6, Y13, 1, Y7) \
	BG1(VPXORD.BCST, 10, Y13, 2, Y6) \
	BG1(VPXORD.BCST, 14, Y13, 3, Y7) \
	BG1(VPXORD.BCST, 18, Y13, 4, Y6) \
	BG1(VPXORD.BCST, 22, Y13, 5, Y7) \
	BG1(VPXORD.BCST, 26, Y13, 6, Y6) \
	BG1(VPXORD.BCST, 30, Y13, 7, Y7) \
	VPADDD Y7, Y6, Y6

// LANES_VNNI: the two-row loop, then the last odd row; init and body of
// each, the block size.
#define LANES_VNNI(init2, body2, init1, body1, bsize, pair, pblk, one, blk, done) \
	CMPQ BX, $2 \
	JLT one \
pair: \
	LANE_PAIR_START \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
pblk: \
	PREFETCHT0 2048(R10) \
	PREFETCHT0 2048(R10)(R13*1) \
	LANE_SCALE2 \
	init2 \
	body2 \
	LANE_BLOCK_END2 \
	ADDQ $bsize, R10 \
	DECQ CX \
	JNZ pblk \
	VADDPS Y2, Y0, Y0 \
	VADDPS Y3, Y1, Y1 \
	LANE_PAIR_END \
	CMPQ BX, $2 \
	JGE pair \
	TESTQ BX, BX \
	JEQ done \
one: \
	LANE_ROW_START \
	VXORPS Y2, Y2, Y2 \
blk: \
	PREFETCHT0 2048(R10) \
	LANE_SCALE \
	init1 \
	body1 \
	LANE_BLOCK_END \
	ADDQ $bsize, R10 \
	DECQ CX \
	JNZ blk \
	VADDPS Y2, Y0, Y0 \
	LANE_ROW_END \
done: \
	VZEROUPPER \
	RET

#define LANES_ARGS \
	MOVQ w+0(FP), SI \
	MOVQ rb+8(FP), R13 \
	MOVQ rows+16(FP), BX \
	MOVQ out+56(FP), R9

// func q40Lanes8VNNI(w *byte, rb, rows int, x *int8, d *float32, c *float32, nb int, out *float32)
TEXT ·q40Lanes8VNNI(SB), NOSPLIT, $0-64
	LANES_ARGS
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Y13
	MOVL $0xf0f0f0f0, AX
	VPBROADCASTD AX, Y12
	LANES_VNNI(Q40_INIT2, Q40_PAIR, Q40_INIT1, Q40_ONE, 18, q40pair, q40pblk, q40one, q40blk, q40done)

// func q80Lanes8VNNI(w *byte, rb, rows int, x *int8, d *float32, s *int32, nb int, out *float32)
TEXT ·q80Lanes8VNNI(SB), NOSPLIT, $0-64
	LANES_ARGS
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Y13
	LANES_VNNI(LANE_INIT2, Q80_PAIR, Q80_INIT1, Q80_ONE, 34, q80pair, q80pblk, q80one, q80blk, q80done)
