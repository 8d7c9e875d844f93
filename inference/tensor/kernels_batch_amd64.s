//go:build amd64 && !purego

#include "textflag.h"

// Lane kernels (see lanes.go): one weight row block at a time, each
// 128-bit half of its expanded bytes in both halves of a register, its
// 4-byte groups broadcast to every lane with vpshufd (from registers: a
// store and reloads of the expanded block stall on store forwarding) and
// multiplied with the lane layout's 256-bit loads of eight vectors. Registers common to all:
//   SI  row start, R10 block pointer, BX rows left, CX blocks left
//   DI  lane activations, DX lane scales, R12 lane sums, R9 out
//   Y0  float sums of the row (one lane per vector), Y11 block scale
// Arguments: w, rb, rows, x, d, s, nb, out.

#define LANE_ROW_START \
	MOVQ x+24(FP), DI \
	MOVQ d+32(FP), DX \
	MOVQ s+40(FP), R12 \
	MOVQ nb+48(FP), CX \
	MOVQ SI, R10 \
	VXORPS Y0, Y0, Y0

// LANE_SCALE: Y11 = the f16 block scale at (R10), broadcast.
#define LANE_SCALE \
	MOVWLZX (R10), AX \
	VMOVD AX, X11 \
	VCVTPH2PS X11, X11 \
	VBROADCASTSS X11, Y11

// LANE_SUB_SUM(shift): Y6 -= lane sums << shift (the weight offset).
#define LANE_SUB_SUM(shift) \
	VMOVDQU (R12), Y8 \
	VPSLLD $shift, Y8, Y8 \
	VPSUBD Y8, Y6, Y6

// LANE_BLOCK_END: Y0 += float(Y6) * scale * lane scales; next block.
#define LANE_BLOCK_END \
	VCVTDQ2PS Y6, Y6 \
	VMULPS (DX), Y11, Y11 \
	VFMADD231PS Y11, Y6, Y0 \
	ADDQ $256, DI \
	ADDQ $32, DX \
	ADDQ $32, R12

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
	VPMADDUBSW (32*base)(DI), Y4, Y8 \
	VPSHUFD $0x55, src, Y5 \
	VPMADDUBSW (32*base+32)(DI), Y5, Y9 \
	VPADDW Y8, Y6, Y6 \
	VPADDW Y9, Y7, Y7 \
	VPSHUFD $0xaa, src, Y4 \
	VPMADDUBSW (32*base+64)(DI), Y4, Y8 \
	VPSHUFD $0xff, src, Y5 \
	VPMADDUBSW (32*base+96)(DI), Y5, Y9 \
	VPADDW Y8, Y6, Y6 \
	VPADDW Y9, Y7, Y7

// DPSHUF4(src, base): groups base..base+3, broadcast from register src
// (its 16 bytes in both halves) with vpshufd.
#define DPSHUF4(src, base) \
	VPSHUFD $0x00, src, Y4 \
	VPDPBUSD (32*base)(DI), Y4, Y6 \
	VPSHUFD $0x55, src, Y5 \
	VPDPBUSD (32*base+32)(DI), Y5, Y7 \
	VPSHUFD $0xaa, src, Y4 \
	VPDPBUSD (32*base+64)(DI), Y4, Y6 \
	VPSHUFD $0xff, src, Y5 \
	VPDPBUSD (32*base+96)(DI), Y5, Y7

// func q40Lanes8AVX(w *byte, rb, rows int, x *int8, d *float32, s *int32, nb int, out *float32)
// Q4_0 rows: unsigned nibbles times the signed activations (vpmaddubsw;
// 8 groups of pair sums stay within 16 bits: 8*2*15*128 < 2^15), then
// -8 * the block sums for the nibbles' offset.
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
q40avxblk:
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
	LANE_SUB_SUM(3)
	LANE_BLOCK_END
	ADDQ $18, R10
	DECQ CX
	JNZ q40avxblk
	LANE_ROW_END
	JNZ q40avxrow
	VZEROUPPER
	RET

// func q40Lanes8VNNI(w *byte, rb, rows int, x *int8, d *float32, s *int32, nb int, out *float32)
// q40Lanes8AVX with vpdpbusd.
TEXT ·q40Lanes8VNNI(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ out+56(FP), R9
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
q40vnnirow:
	LANE_ROW_START
q40vnniblk:
	LANE_SCALE
	VBROADCASTI128 2(R10), Y12
	VPAND Y13, Y12, Y2
	VPSRLW $4, Y12, Y3
	VPAND Y13, Y3, Y3
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	DPSHUF4(Y2, 0)
	DPSHUF4(Y3, 4)
	VPADDD Y7, Y6, Y6
	LANE_SUB_SUM(3)
	LANE_BLOCK_END
	ADDQ $18, R10
	DECQ CX
	JNZ q40vnniblk
	LANE_ROW_END
	JNZ q40vnnirow
	VZEROUPPER
	RET

// func q80Lanes8VNNI(w *byte, rb, rows int, x *int8, d *float32, s *int32, nb int, out *float32)
// Q8_0 rows: the weights offset by 128 to unsigned bytes for vpdpbusd,
// then -128 * the block sums.
TEXT ·q80Lanes8VNNI(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ rows+16(FP), BX
	MOVQ out+56(FP), R9
	MOVL $0x80808080, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
q80vnnirow:
	LANE_ROW_START
q80vnniblk:
	LANE_SCALE
	VBROADCASTI128 2(R10), Y2
	VPXOR Y13, Y2, Y2
	VBROADCASTI128 18(R10), Y3
	VPXOR Y13, Y3, Y3
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	DPSHUF4(Y2, 0)
	DPSHUF4(Y3, 4)
	VPADDD Y7, Y6, Y6
	LANE_SUB_SUM(7)
	LANE_BLOCK_END
	ADDQ $34, R10
	DECQ CX
	JNZ q80vnniblk
	LANE_ROW_END
	JNZ q80vnnirow
	VZEROUPPER
	RET
