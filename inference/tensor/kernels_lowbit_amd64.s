//go:build amd64 && !purego

#include "textflag.h"

// AVX2/FMA row kernels of the 32-element fallback types (legacy.go), one
// block per step, in the order of ggml's AVX2 ggml_vec_dot_* kernels: per
// block, eight int32 lanes of the integer products (VPMADDUBSW, VPMADDWD)
// converted to float and accumulated with FMA under the block's combined
// scale; one horizontal sum at the end (ggml's hsum_float_8); the min terms
// of Q4_1/Q5_1 summed apart as scalars.

#define PFD 1024

// Byte i of the fifth-bit word goes to bytes 8i..8i+7 (ggml's
// bytes_from_bits_32 shuffle).
DATA bitshuf<>+0(SB)/8, $0x0000000000000000
DATA bitshuf<>+8(SB)/8, $0x0101010101010101
DATA bitshuf<>+16(SB)/8, $0x0202020202020202
DATA bitshuf<>+24(SB)/8, $0x0303030303030303
GLOBL bitshuf<>(SB), RODATA|NOPTR, $32

// ggml's kvalues_iq4nl as int8.
DATA iq4nl<>+0(SB)/8, $0xf6eaddcfbfad9881
DATA iq4nl<>+8(SB)/8, $0x7159453526190d01
GLOBL iq4nl<>(SB), RODATA|NOPTR, $16

// Constants: Y15 int16 ones, Y14 0x0f bytes, Y13 bit shuffle, Y12 all
// bits but one per byte, Y11 all ones.
#define CONSTS \
	VPCMPEQW Y11, Y11, Y11 \
	VPSRLW $15, Y11, Y15 \
	MOVL $0x0f0f0f0f, AX \
	VMOVD AX, X14 \
	VPBROADCASTD X14, Y14 \
	VMOVDQU bitshuf<>(SB), Y13 \
	MOVQ $0x7fbfdfeff7fbfdfe, AX \
	VMOVQ AX, X12 \
	VPBROADCASTQ X12, Y12

// Y10 = f16 at off(SI) times the activation scale at (DX), broadcast.
#define BSCALE(off) \
	MOVWLZX off(SI), AX \
	VMOVD AX, X10 \
	VCVTPH2PS X10, X10 \
	VMULSS (DX), X10, X10 \
	VBROADCASTSS X10, Y10

// Y3 = the 32 nibbles at off(SI): low nibbles of the 16 bytes, then high.
#define NIBBLES(off) \
	VMOVDQU off(SI), X3 \
	VPSRLW $4, X3, X4 \
	VINSERTI128 $1, X4, Y3, Y3 \
	VPAND Y14, Y3, Y3

// Y2 = 0xff in byte i where bit i of the 32-bit word at off(SI) is set.
#define BITS(off) \
	VPBROADCASTD off(SI), Y2 \
	VPSHUFB Y13, Y2, Y2 \
	VPOR Y12, Y2, Y2 \
	VPCMPEQB Y11, Y2, Y2

// Signed bytes Y3 times the activation block at (DI), into Y5 as float.
#define SIGNED_DOT \
	VMOVDQU (DI), Y4 \
	VPSIGNB Y3, Y3, Y5 \
	VPSIGNB Y3, Y4, Y4 \
	VPMADDUBSW Y4, Y5, Y5 \
	VPMADDWD Y15, Y5, Y5 \
	VCVTDQ2PS Y5, Y5

// Unsigned bytes Y3 times the activation block at (DI), into Y5 as float.
#define UNSIGNED_DOT \
	VPMADDUBSW (DI), Y3, Y5 \
	VPMADDWD Y15, Y5, Y5 \
	VCVTDQ2PS Y5, Y5

// X1 = horizontal sum of Y0, as ggml's hsum_float_8.
#define HSUM8 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X0, X1, X1 \
	VMOVHLPS X1, X1, X2 \
	VADDPS X2, X1, X1 \
	VMOVSHDUP X1, X2 \
	VADDSS X2, X1, X1

// Y6..Y9 = lane indices 0..3 for VPERMPS (broadcast of one block scale).
#define PERMIDX4 \
	VPXOR Y6, Y6, Y6 \
	MOVL $1, AX \
	VMOVD AX, X7 \
	VPBROADCASTD X7, Y7 \
	MOVL $2, AX \
	VMOVD AX, X8 \
	VPBROADCASTD X8, Y8 \
	MOVL $3, AX \
	VMOVD AX, X9 \
	VPBROADCASTD X9, Y9

// X10 = four f16 weight scales, bs bytes apart from 0(SI), times the four
// activation scales at (DX): the same products BSCALE forms one by one.
#define SCALES4X(bs) \
	MOVWLZX (SI), AX \
	VMOVD AX, X10 \
	VPINSRW $1, bs(SI), X10, X10 \
	VPINSRW $2, 2*bs(SI), X10, X10 \
	VPINSRW $3, 3*bs(SI), X10, X10 \
	VCVTPH2PS X10, X10 \
	VMULPS (DX), X10, X10

// Q5_0 block k of a group of four, its scale at tmp+4k (the four stored
// from X10), into Y0. Y1 = 0xf0 bytes, Y6 = dword shifts 0 (low lane), 4
// (high lane): the 16 nibble bytes, loaded into both lanes, give the low
// nibbles in the low lane and the high ones in the high lane.
#define Q50BLK(k, idx) \
	VPBROADCASTD 2+22*k(SI), Y2 \
	VPSHUFB Y13, Y2, Y2 \
	VPOR Y12, Y2, Y2 \
	VPCMPEQB Y11, Y2, Y2 \
	VPANDN Y1, Y2, Y2 \
	VBROADCASTI128 6+22*k(SI), Y3 \
	VPSRLVD Y6, Y3, Y3 \
	VPAND Y14, Y3, Y3 \
	VPOR Y2, Y3, Y3 \
	VMOVDQU 32*k(DI), Y4 \
	VPSIGNB Y3, Y3, Y5 \
	VPSIGNB Y3, Y4, Y4 \
	VPMADDUBSW Y4, Y5, Y5 \
	VPMADDWD Y15, Y5, Y5 \
	VCVTDQ2PS Y5, Y5 \
	VBROADCASTSS tmp-16+4*k(SP), Y4 \
	VFMADD231PS Y4, Y5, Y0

// func dotQ50AVX(w *byte, qs *int8, d *float32, nb int) float32
// Four blocks per step (scales converted together), added to the one
// accumulator in block order, as the one-block loop does.
TEXT ·dotQ50AVX(SB), NOSPLIT, $16-36
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	CONSTS
	VPSLLW $4, Y14, Y1 // 0xf0 bytes
	MOVL $4, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	VPXOR X7, X7, X7
	VPBLENDD $0x0f, Y7, Y6, Y6 // shifts 0,0,0,0,4,4,4,4
	VXORPS Y0, Y0, Y0
q50loop4:
	CMPQ CX, $4
	JLT q50tail
	PREFETCHT0 PFD(SI)
	PREFETCHT0 PFD+64(SI)
	SCALES4X(22)
	VMOVUPS X10, tmp-16(SP)
	Q50BLK(0, Y6)
	Q50BLK(1, Y7)
	Q50BLK(2, Y8)
	Q50BLK(3, Y9)
	ADDQ $88, SI
	ADDQ $128, DI
	ADDQ $16, DX
	SUBQ $4, CX
	JMP q50loop4
q50tail:
	TESTQ CX, CX
	JEQ q50done
	MOVWLZX (SI), AX
	VMOVD AX, X10
	VCVTPH2PS X10, X10
	VMULSS (DX), X10, X10
	VMOVSS X10, tmp-16(SP)
	Q50BLK(0, Y6)
	ADDQ $22, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JMP q50tail
q50done:
	HSUM8
	VZEROUPPER
	MOVSS X1, ret+32(FP)
	RET

// IQ4_NL block k of a group of four, its scale at tmp+4k, into acc. Y1 =
// the levels, Y6 = dword shifts 0 (low lane), 4 (high lane).
#define IQ4NLBLK(k, acc) \
	VBROADCASTI128 2+18*k(SI), Y3 \
	VPSRLVD Y6, Y3, Y3 \
	VPAND Y14, Y3, Y3 \
	VPSHUFB Y3, Y1, Y3 \
	VMOVDQU 32*k(DI), Y4 \
	VPSIGNB Y3, Y3, Y5 \
	VPSIGNB Y3, Y4, Y4 \
	VPMADDUBSW Y4, Y5, Y5 \
	VPMADDWD Y15, Y5, Y5 \
	VCVTDQ2PS Y5, Y5 \
	VBROADCASTSS tmp-16+4*k(SP), Y4 \
	VFMADD231PS Y4, Y5, acc

// func dotIQ4NLAVX(w *byte, qs *int8, d *float32, nb int) float32
// As ggml's AVX2 ggml_vec_dot_iq4_nl_q8_0: even blocks into Y0, odd ones
// into Y8, summed before the horizontal sum; an odd last block is added
// after it as d times its integer sum.
TEXT ·dotIQ4NLAVX(SB), NOSPLIT, $16-36
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	CONSTS
	VBROADCASTI128 iq4nl<>(SB), Y1
	MOVL $4, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	VPXOR X7, X7, X7
	VPBLENDD $0x0f, Y7, Y6, Y6 // shifts 0,0,0,0,4,4,4,4
	VXORPS Y0, Y0, Y0
	VXORPS Y8, Y8, Y8
iq4nlloop4:
	CMPQ CX, $4
	JLT iq4nlpair
	PREFETCHT0 PFD(SI)
	SCALES4X(18)
	VMOVUPS X10, tmp-16(SP)
	IQ4NLBLK(0, Y0)
	IQ4NLBLK(1, Y8)
	IQ4NLBLK(2, Y0)
	IQ4NLBLK(3, Y8)
	ADDQ $72, SI
	ADDQ $128, DI
	ADDQ $16, DX
	SUBQ $4, CX
	JMP iq4nlloop4
iq4nlpair:
	CMPQ CX, $2
	JLT iq4nltail
	MOVWLZX (SI), AX
	VMOVD AX, X10
	VPINSRW $1, 18(SI), X10, X10
	VCVTPH2PS X10, X10
	VMOVSD (DX), X11
	VMULPS X11, X10, X10
	VMOVUPS X10, tmp-16(SP)
	IQ4NLBLK(0, Y0)
	IQ4NLBLK(1, Y8)
	ADDQ $36, SI
	ADDQ $64, DI
	ADDQ $8, DX
	SUBQ $2, CX
iq4nltail:
	TESTQ CX, CX
	JEQ iq4nlsum
	BSCALE(0)
	NIBBLES(2)
	VPSHUFB Y3, Y1, Y3
	SIGNED_DOT // Y5: eight exact lane sums as float
	VEXTRACTF128 $1, Y5, X6
	VADDPS X5, X6, X6
	VMOVHLPS X6, X6, X7
	VADDPS X7, X6, X6
	VMOVSHDUP X6, X7
	VADDSS X7, X6, X6 // the block's integer sum, exact in float
	VADDPS Y8, Y0, Y0
	HSUM8
	VFMADD231SS X10, X6, X1
	JMP iq4nldone
iq4nlsum:
	VADDPS Y8, Y0, Y0
	HSUM8
iq4nldone:
	VZEROUPPER
	MOVSS X1, ret+32(FP)
	RET

// MINTERMK adds the f16 min at off(SI) times the activation's s at k*4(R8)
// to X7.
#define MINTERMK(off, k) \
	MOVWLZX off(SI), AX \
	VMOVD AX, X2 \
	VCVTPH2PS X2, X2 \
	VFMADD231SS 4*k(R8), X2, X7

// Block k (bs bytes each) of a group of four with unsigned values in Y3,
// its scale at tmp+4k, into Y0.
#define UDOTK(k) \
	VPMADDUBSW 32*k(DI), Y3, Y5 \
	VPMADDWD Y15, Y5, Y5 \
	VCVTDQ2PS Y5, Y5 \
	VBROADCASTSS tmp-16+4*k(SP), Y4 \
	VFMADD231PS Y4, Y5, Y0

// Q4_1 block k: min term, nibbles at 4+20k, product.
#define Q41BLK(k) \
	MINTERMK(2+20*k, k) \
	VBROADCASTI128 4+20*k(SI), Y3 \
	VPSRLVD Y6, Y3, Y3 \
	VPAND Y14, Y3, Y3 \
	UDOTK(k)

// Q5_1 block k: min term, fifth bits at 4+24k, nibbles at 8+24k, product.
// Y1 = 0x10 bytes.
#define Q51BLK(k) \
	MINTERMK(2+24*k, k) \
	VPBROADCASTD 4+24*k(SI), Y2 \
	VPSHUFB Y13, Y2, Y2 \
	VPOR Y12, Y2, Y2 \
	VPCMPEQB Y11, Y2, Y2 \
	VPAND Y1, Y2, Y2 \
	VBROADCASTI128 8+24*k(SI), Y3 \
	VPSRLVD Y6, Y3, Y3 \
	VPAND Y14, Y3, Y3 \
	VPOR Y2, Y3, Y3 \
	UDOTK(k)

// Y6 = dword shifts 0,0,0,0,4,4,4,4.
#define SHIFTS04 \
	MOVL $4, AX \
	VMOVD AX, X6 \
	VPBROADCASTD X6, Y6 \
	VPXOR X7, X7, X7 \
	VPBLENDD $0x0f, Y7, Y6, Y6

// One block's scale into tmp+0 (tails).
#define SCALE1TMP \
	MOVWLZX (SI), AX \
	VMOVD AX, X10 \
	VCVTPH2PS X10, X10 \
	VMULSS (DX), X10, X10 \
	VMOVSS X10, tmp-16(SP)

// func dotQ41AVX(w *byte, qs *int8, d, s *float32, nb int) float32
TEXT ·dotQ41AVX(SB), NOSPLIT, $16-44
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ s+24(FP), R8
	MOVQ nb+32(FP), CX
	CONSTS
	SHIFTS04
	VXORPS Y0, Y0, Y0
	VXORPS X7, X7, X7
q41loop4:
	CMPQ CX, $4
	JLT q41tail
	PREFETCHT0 PFD(SI)
	PREFETCHT0 PFD+64(SI)
	SCALES4X(20)
	VMOVUPS X10, tmp-16(SP)
	Q41BLK(0)
	Q41BLK(1)
	Q41BLK(2)
	Q41BLK(3)
	ADDQ $80, SI
	ADDQ $128, DI
	ADDQ $16, DX
	ADDQ $16, R8
	SUBQ $4, CX
	JMP q41loop4
q41tail:
	TESTQ CX, CX
	JEQ q41done
	SCALE1TMP
	Q41BLK(0)
	ADDQ $20, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, R8
	DECQ CX
	JMP q41tail
q41done:
	HSUM8
	VADDSS X7, X1, X1
	VZEROUPPER
	MOVSS X1, ret+40(FP)
	RET

// func dotQ51AVX(w *byte, qs *int8, d, s *float32, nb int) float32
TEXT ·dotQ51AVX(SB), NOSPLIT, $16-44
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ s+24(FP), R8
	MOVQ nb+32(FP), CX
	CONSTS
	SHIFTS04
	MOVL $0x10101010, AX
	VMOVD AX, X1
	VPBROADCASTD X1, Y1 // 0x10 bytes
	VXORPS Y0, Y0, Y0
	VXORPS X7, X7, X7
q51loop4:
	CMPQ CX, $4
	JLT q51tail
	PREFETCHT0 PFD(SI)
	PREFETCHT0 PFD+64(SI)
	SCALES4X(24)
	VMOVUPS X10, tmp-16(SP)
	Q51BLK(0)
	Q51BLK(1)
	Q51BLK(2)
	Q51BLK(3)
	ADDQ $96, SI
	ADDQ $128, DI
	ADDQ $16, DX
	ADDQ $16, R8
	SUBQ $4, CX
	JMP q51loop4
q51tail:
	TESTQ CX, CX
	JEQ q51done
	SCALE1TMP
	Q51BLK(0)
	ADDQ $24, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, R8
	DECQ CX
	JMP q51tail
q51done:
	HSUM8
	VADDSS X7, X1, X1
	VZEROUPPER
	MOVSS X1, ret+40(FP)
	RET
