//go:build amd64 && !purego

#include "textflag.h"

// Q8_0 prompt kernel (matMulQ80, lanes.go): weight rows times one lane
// group of eight Q8_0 vectors, four rows at a time. The lane layout's
// bytes are biased to unsigned (x+128), so that VPDPBUSD takes them from
// registers against each weight row's four-byte groups broadcast from
// memory, signed; the bias is taken back through the rows' block sums
// (q80Corr: -128 times the sum of the block's weights), which start each
// block's int32 sums. Each lane then holds one vector's whole block sum:
// one conversion and one FMA per block for eight products, with no
// horizontal sums. A product's result is its blocks' float terms
// (dw*dx)*sum added in block order, whatever rows and vectors share the
// call.

// func q80Corr(dst *int32, w *byte, nblocks int)
TEXT ·q80Corr(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ nblocks+16(FP), CX
	MOVL $0x80808080, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	VPXOR Y14, Y14, Y14
	TESTQ CX, CX
	JEQ corrdone
corrloop:
	VMOVDQU 2(SI), Y0
	VPXOR Y15, Y0, Y0
	VPSADBW Y14, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDQ X1, X0, X0
	VMOVD X0, AX
	SUBL $4096, AX
	NEGL AX
	SHLL $7, AX
	MOVL AX, (DI)
	ADDQ $34, SI
	ADDQ $4, DI
	DECQ CX
	JNZ corrloop
corrdone:
	VZEROUPPER
	RET

// Q80G(q, x, a0, a1, a2, a3): the four-byte group at q of the tile's four
// weight rows against the lanes in x, into a0..a3 (row by row).
#define Q80G(q, x, a0, a1, a2, a3) \
	VPDPBUSD.BCST q(R10), x, a0 \
	VPDPBUSD.BCST q(R10)(BX*1), x, a1 \
	VPDPBUSD.BCST q(R10)(BX*2), x, a2 \
	VPDPBUSD.BCST q(R10)(R14*1), x, a3

// Q80ROW(w, xt, yt, sums, acc): acc += (the weight block's scale at w times
// the lane scales in Y8) * float(sums); xt/yt a temp.
#define Q80ROW(w, xt, yt, sums, acc) \
	VPBROADCASTW w, xt \
	VCVTPH2PS xt, yt \
	VMULPS Y8, yt, yt \
	VFMADD231PS yt, sums, acc

// func q80LanesVNNI(w *byte, rb, rows int, x *byte, d *float32, corr *int32, nb int, out *float32)
// rows (a multiple of 4) weight rows from w, rb bytes apart, against one
// lane group (x biased, d its scales): out[r*8+j]. corr holds q80Corr of
// the rows, nb per row.
TEXT ·q80LanesVNNI(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ rb+8(FP), BX
	LEAQ (BX)(BX*2), R14
	MOVQ rows+16(FP), CX
	SHRQ $2, CX
	MOVQ corr+40(FP), R11
	MOVQ nb+48(FP), R13
	SHLQ $2, R13
	LEAQ (R13)(R13*2), R15
	MOVQ out+56(FP), R9
q80ltile:
	MOVQ x+24(FP), DI
	MOVQ d+32(FP), DX
	MOVQ nb+48(FP), R8
	MOVQ SI, R10
	MOVQ R11, R12
	VPXORD Y16, Y16, Y16
	VPXORD Y17, Y17, Y17
	VPXORD Y18, Y18, Y18
	VPXORD Y19, Y19, Y19
q80lblk:
	VMOVDQU 0(DI), Y0
	VMOVDQU 32(DI), Y1
	VMOVDQU 64(DI), Y2
	VMOVDQU 96(DI), Y3
	VMOVDQU 128(DI), Y4
	VMOVDQU 160(DI), Y5
	VMOVDQU 192(DI), Y6
	VMOVDQU 224(DI), Y7
	VPBROADCASTD (R12), Y9
	VPBROADCASTD (R12)(R13*1), Y10
	VPBROADCASTD (R12)(R13*2), Y11
	VPBROADCASTD (R12)(R15*1), Y12
	VPXORD Y20, Y20, Y20
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23
	Q80G(2, Y0, Y9, Y10, Y11, Y12)
	Q80G(6, Y1, Y20, Y21, Y22, Y23)
	Q80G(10, Y2, Y9, Y10, Y11, Y12)
	Q80G(14, Y3, Y20, Y21, Y22, Y23)
	Q80G(18, Y4, Y9, Y10, Y11, Y12)
	Q80G(22, Y5, Y20, Y21, Y22, Y23)
	Q80G(26, Y6, Y9, Y10, Y11, Y12)
	Q80G(30, Y7, Y20, Y21, Y22, Y23)
	VMOVUPS (DX), Y8
	VPADDD Y20, Y9, Y9
	VPADDD Y21, Y10, Y10
	VPADDD Y22, Y11, Y11
	VPADDD Y23, Y12, Y12
	VCVTDQ2PS Y9, Y9
	VCVTDQ2PS Y10, Y10
	VCVTDQ2PS Y11, Y11
	VCVTDQ2PS Y12, Y12
	Q80ROW((R10), X13, Y13, Y9, Y16)
	Q80ROW((R10)(BX*1), X14, Y14, Y10, Y17)
	Q80ROW((R10)(BX*2), X13, Y13, Y11, Y18)
	Q80ROW((R10)(R14*1), X14, Y14, Y12, Y19)
	ADDQ $34, R10
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $4, R12
	DECQ R8
	JNZ q80lblk
	VMOVUPS Y16, (R9)
	VMOVUPS Y17, 32(R9)
	VMOVUPS Y18, 64(R9)
	VMOVUPS Y19, 96(R9)
	ADDQ $128, R9
	LEAQ (SI)(BX*4), SI
	LEAQ (R11)(R13*4), R11
	DECQ CX
	JNZ q80ltile
	VZEROUPPER
	RET

// func q80LanesAVX(w *byte, rb, rows int, x *int8, d *float32, nb int, out *float32)
// q80LanesVNNI's products for CPUs without AVX512-VNNI, row by row, from
// the unbiased lanes: VPMADDUBSW of each weight group's magnitudes with the
// vectors' values carrying its signs (at most 2*128*127 per int16, so
// exact) gives the same int32 block sums, and the float operations are
// q80LanesVNNI's, so both return the same bits.
TEXT ·q80LanesAVX(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ out+48(FP), R9
	VPCMPEQW Y15, Y15, Y15
	VPSRLW $15, Y15, Y15
q80arow:
	MOVQ x+24(FP), DI
	MOVQ d+32(FP), DX
	MOVQ nb+40(FP), R8
	MOVQ SI, R10
	VXORPS Y4, Y4, Y4
q80ablk:
	VPXOR Y0, Y0, Y0
	VPBROADCASTD 2(R10), Y1
	VMOVDQU 0(DI), Y2
	VPSIGNB Y1, Y2, Y2
	VPABSB Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD Y15, Y3, Y3
	VPADDD Y3, Y0, Y0
	VPBROADCASTD 6(R10), Y1
	VMOVDQU 32(DI), Y2
	VPSIGNB Y1, Y2, Y2
	VPABSB Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD Y15, Y3, Y3
	VPADDD Y3, Y0, Y0
	VPBROADCASTD 10(R10), Y1
	VMOVDQU 64(DI), Y2
	VPSIGNB Y1, Y2, Y2
	VPABSB Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD Y15, Y3, Y3
	VPADDD Y3, Y0, Y0
	VPBROADCASTD 14(R10), Y1
	VMOVDQU 96(DI), Y2
	VPSIGNB Y1, Y2, Y2
	VPABSB Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD Y15, Y3, Y3
	VPADDD Y3, Y0, Y0
	VPBROADCASTD 18(R10), Y1
	VMOVDQU 128(DI), Y2
	VPSIGNB Y1, Y2, Y2
	VPABSB Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD Y15, Y3, Y3
	VPADDD Y3, Y0, Y0
	VPBROADCASTD 22(R10), Y1
	VMOVDQU 160(DI), Y2
	VPSIGNB Y1, Y2, Y2
	VPABSB Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD Y15, Y3, Y3
	VPADDD Y3, Y0, Y0
	VPBROADCASTD 26(R10), Y1
	VMOVDQU 192(DI), Y2
	VPSIGNB Y1, Y2, Y2
	VPABSB Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD Y15, Y3, Y3
	VPADDD Y3, Y0, Y0
	VPBROADCASTD 30(R10), Y1
	VMOVDQU 224(DI), Y2
	VPSIGNB Y1, Y2, Y2
	VPABSB Y1, Y1
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD Y15, Y3, Y3
	VPADDD Y3, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VPBROADCASTW (R10), X5
	VCVTPH2PS X5, Y5
	VMULPS (DX), Y5, Y5
	VFMADD231PS Y5, Y0, Y4
	ADDQ $34, R10
	ADDQ $256, DI
	ADDQ $32, DX
	DECQ R8
	JNZ q80ablk
	VMOVUPS Y4, (R9)
	ADDQ $32, R9
	ADDQ rb+8(FP), SI
	DECQ CX
	JNZ q80arow
	VZEROUPPER
	RET

// func transpose8(dst *float32, stride int, src *float32, sstride int)
// Eight rows of eight lanes (src + r*sstride floats) to eight lanes of
// eight rows (dst + l*stride floats): a lane kernel's results into MatMul's
// vector-major output.
TEXT ·transpose8(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ stride+8(FP), BX
	SHLQ $2, BX
	MOVQ src+16(FP), SI
	MOVQ sstride+24(FP), CX
	SHLQ $2, CX
	LEAQ (CX)(CX*2), DX
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(CX*1), Y1
	VMOVUPS (SI)(CX*2), Y2
	VMOVUPS (SI)(DX*1), Y3
	LEAQ (SI)(CX*4), SI
	VMOVUPS (SI), Y4
	VMOVUPS (SI)(CX*1), Y5
	VMOVUPS (SI)(CX*2), Y6
	VMOVUPS (SI)(DX*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xee, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xee, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xee, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xee, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	LEAQ (BX)(BX*2), DX
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(BX*1)
	VMOVUPS Y10, (DI)(BX*2)
	VMOVUPS Y11, (DI)(DX*1)
	LEAQ (DI)(BX*4), DI
	VMOVUPS Y12, (DI)
	VMOVUPS Y13, (DI)(BX*1)
	VMOVUPS Y14, (DI)(BX*2)
	VMOVUPS Y15, (DI)(DX*1)
	VZEROUPPER
	RET
