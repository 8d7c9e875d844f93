//go:build amd64 && !purego

#include "textflag.h"

// AVX2/FMA/F16C kernels. Go assembler operand order is reversed from
// Intel's: VFMADD231PS a, b, acc computes acc += b*a.

// Dword order that undoes the lane interleaving of VPACKSSDW+VPACKSSWB.
DATA packperm<>+0(SB)/4, $0
DATA packperm<>+4(SB)/4, $4
DATA packperm<>+8(SB)/4, $1
DATA packperm<>+12(SB)/4, $5
DATA packperm<>+16(SB)/4, $2
DATA packperm<>+20(SB)/4, $6
DATA packperm<>+24(SB)/4, $3
DATA packperm<>+28(SB)/4, $7
GLOBL packperm<>(SB), RODATA|NOPTR, $32

// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// hsum reduces Y0 to its lane sum in X0.
#define HSUM \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0

// func dotF32AVX(a, b *float32, n int) float32
// n is a multiple of 8.
TEXT ·dotF32AVX(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
f32loop32:
	CMPQ CX, $32
	JLT f32loop8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP f32loop32
f32loop8:
	CMPQ CX, $8
	JLT f32done
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP f32loop8
f32done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func axpyAVX(dst, x *float32, a float32, n int)
// dst[i] += a*x[i]; n is a multiple of 8.
TEXT ·axpyAVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	VBROADCASTSS a+16(FP), Y15
	MOVQ n+24(FP), CX
axloop32:
	CMPQ CX, $32
	JLT axloop8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VFMADD231PS (SI), Y15, Y0
	VFMADD231PS 32(SI), Y15, Y1
	VFMADD231PS 64(SI), Y15, Y2
	VFMADD231PS 96(SI), Y15, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP axloop32
axloop8:
	CMPQ CX, $8
	JLT axdone
	VMOVUPS (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP axloop8
axdone:
	VZEROUPPER
	RET

// func dotF16AVX(w *byte, x *float32, n int) float32
// w holds n IEEE halves; n is a multiple of 8.
TEXT ·dotF16AVX(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
f16loop32:
	CMPQ CX, $32
	JLT f16loop8
	VCVTPH2PS (SI), Y4
	VCVTPH2PS 16(SI), Y5
	VCVTPH2PS 32(SI), Y6
	VCVTPH2PS 48(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP f16loop32
f16loop8:
	CMPQ CX, $8
	JLT f16done
	VCVTPH2PS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP f16loop8
f16done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotBF16AVX(w *byte, x *float32, n int) float32
// w holds n bfloat16; n is a multiple of 8.
TEXT ·dotBF16AVX(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
bf16loop32:
	CMPQ CX, $32
	JLT bf16loop8
	VPMOVZXWD (SI), Y4
	VPMOVZXWD 16(SI), Y5
	VPMOVZXWD 32(SI), Y6
	VPMOVZXWD 48(SI), Y7
	VPSLLD $16, Y4, Y4
	VPSLLD $16, Y5, Y5
	VPSLLD $16, Y6, Y6
	VPSLLD $16, Y7, Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP bf16loop32
bf16loop8:
	CMPQ CX, $8
	JLT bf16done
	VPMOVZXWD (SI), Y4
	VPSLLD $16, Y4, Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP bf16loop8
bf16done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func roundF16AVX(dst, x *float32, n int)
// dst[i] = x[i] rounded to half precision (nearest even); n multiple of 8.
TEXT ·roundF16AVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
rfloop:
	CMPQ CX, $8
	JLT rfdone
	VMOVUPS (SI), Y0
	VCVTPS2PH $0, Y0, X1
	VCVTPH2PS X1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP rfloop
rfdone:
	VZEROUPPER
	RET

// func quantQ8AVX(d *float32, qs *int8, x *float32, nb int)
// Quantizes nb blocks of 32 as ggml's AVX2 quantize_row_q8_0: d = amax/127
// rounded to f16, q = nearest-even(x * (127/amax)).
TEXT ·quantQ8AVX(SB), NOSPLIT, $0-32
	MOVQ d+0(FP), DX
	MOVQ qs+8(FP), DI
	MOVQ x+16(FP), SI
	MOVQ nb+24(FP), CX
	VPCMPEQD Y15, Y15, Y15
	VPSRLD $1, Y15, Y15 // 0x7fffffff: |.| mask
	MOVL $0x42fe0000, AX // 127.0
	VMOVD AX, X14
	VMOVDQU packperm<>(SB), Y13
	TESTQ CX, CX
	JEQ qqdone
qqloop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS Y15, Y0, Y4
	VANDPS Y15, Y1, Y5
	VANDPS Y15, Y2, Y6
	VANDPS Y15, Y3, Y7
	VMAXPS Y5, Y4, Y4
	VMAXPS Y7, Y6, Y6
	VMAXPS Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS X5, X4, X4
	VMOVHLPS X4, X4, X5
	VMAXPS X5, X4, X4
	VMOVSHDUP X4, X5
	VMAXSS X5, X4, X4 // amax
	VDIVSS X14, X4, X5 // d = amax/127
	VCVTPS2PH $0, X5, X5
	VCVTPH2PS X5, X5
	VMOVSS X5, (DX)
	VXORPS X6, X6, X6
	VUCOMISS X6, X4
	JEQ qqzero
	VDIVSS X4, X14, X6 // id = 127/amax
qqzero:
	VBROADCASTSS X6, Y6
	VMULPS Y6, Y0, Y0
	VMULPS Y6, Y1, Y1
	VMULPS Y6, Y2, Y2
	VMULPS Y6, Y3, Y3
	VCVTPS2DQ Y0, Y0 // MXCSR default: nearest even
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD Y0, Y13, Y0
	VMOVDQU Y0, (DI)
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ qqloop
qqdone:
	VZEROUPPER
	RET

// Index vectors for VPERMPS: Y6..Y9 select lane 0..3 of the block scales.
#define PERMIDX \
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

// Four f16 weight scales, bs bytes apart from 0(SI), into X10 as float32.
#define SCALES4(bs) \
	MOVWLZX (SI), AX \
	VMOVD AX, X10 \
	VPINSRW $1, bs(SI), X10, X10 \
	VPINSRW $2, 2*bs(SI), X10, X10 \
	VPINSRW $3, 3*bs(SI), X10, X10 \
	VCVTPH2PS X10, X10

// One weight scale into lane 0 of X10.
#define SCALE1 \
	MOVWLZX (SI), AX \
	VMOVD AX, X10 \
	VCVTPH2PS X10, X10

// Q8_0 block k of the group at SI/DI, scale lane idx of Y10, into acc.
// Y15 = int16 ones.
#define Q80BLK(k, idx, acc) \
	VMOVDQU 2+34*k(SI), Y3 \
	VMOVDQU 32*k(DI), Y4 \
	VPSIGNB Y3, Y3, Y5 \
	VPSIGNB Y3, Y4, Y4 \
	VPMADDUBSW Y4, Y5, Y5 \
	VPMADDWD Y15, Y5, Y5 \
	VCVTDQ2PS Y5, Y5 \
	VPERMPS Y10, idx, Y4 \
	VFMADD231PS Y4, Y5, acc

// func dotQ80AVX(w *byte, qs *int8, d *float32, nb int) float32
// Scales are converted four blocks at a time.
TEXT ·dotQ80AVX(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VPCMPEQW Y15, Y15, Y15
	VPSRLW $15, Y15, Y15
	PERMIDX
q80loop4:
	CMPQ CX, $4
	JLT q80tail
	SCALES4(34)
	VMULPS (DX), X10, X10
	Q80BLK(0, Y6, Y0)
	Q80BLK(1, Y7, Y1)
	Q80BLK(2, Y8, Y0)
	Q80BLK(3, Y9, Y1)
	ADDQ $136, SI
	ADDQ $128, DI
	ADDQ $16, DX
	SUBQ $4, CX
	JMP q80loop4
q80tail:
	TESTQ CX, CX
	JEQ q80done
	SCALE1
	VMULSS (DX), X10, X10
	Q80BLK(0, Y6, Y0)
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JMP q80tail
q80done:
	VADDPS Y1, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// Q4_0 block k: unsigned nibbles times the activation; the -8 offset is
// applied once per block through the activation's precomputed 8*d*sum(q).
// Y14 = 0x0f bytes, Y15 = int16 ones.
#define Q40BLK(k, idx, acc) \
	VMOVDQU 2+18*k(SI), X3 \
	VPSRLW $4, X3, X4 \
	VINSERTI128 $1, X4, Y3, Y3 \
	VPAND Y14, Y3, Y3 \
	VPMADDUBSW 32*k(DI), Y3, Y3 \
	VPMADDWD Y15, Y3, Y3 \
	VCVTDQ2PS Y3, Y3 \
	VPERMPS Y10, idx, Y4 \
	VFMADD231PS Y4, Y3, acc

// func dotQ40AVX(w *byte, qs *int8, d, c *float32, nb int) float32
// c[b] = 8*d[b]*sum(qs of block b).
TEXT ·dotQ40AVX(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ c+24(FP), R8
	MOVQ nb+32(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y11, Y11, Y11
	VPCMPEQW Y15, Y15, Y15
	VPSRLW $15, Y15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	PERMIDX
q40loop4:
	CMPQ CX, $4
	JLT q40tail
	SCALES4(18)
	VFNMADD231PS (R8), X10, X11
	VMULPS (DX), X10, X10
	Q40BLK(0, Y6, Y0)
	Q40BLK(1, Y7, Y1)
	Q40BLK(2, Y8, Y0)
	Q40BLK(3, Y9, Y1)
	ADDQ $72, SI
	ADDQ $128, DI
	ADDQ $16, DX
	ADDQ $16, R8
	SUBQ $4, CX
	JMP q40loop4
q40tail:
	TESTQ CX, CX
	JEQ q40done
	SCALE1
	VFNMADD231SS (R8), X10, X11
	VMULSS (DX), X10, X10
	Q40BLK(0, Y6, Y0)
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, R8
	DECQ CX
	JMP q40tail
q40done:
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VADDPS X11, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// Q6_K scale broadcast controls: control k repeats bytes 2k, 2k+1 (int16
// word k) across each 128-bit lane.
DATA k6bcast<>+0(SB)/4, $0x1000100
DATA k6bcast<>+4(SB)/4, $0x1000100
DATA k6bcast<>+8(SB)/4, $0x1000100
DATA k6bcast<>+12(SB)/4, $0x1000100
DATA k6bcast<>+16(SB)/4, $0x1000100
DATA k6bcast<>+20(SB)/4, $0x1000100
DATA k6bcast<>+24(SB)/4, $0x1000100
DATA k6bcast<>+28(SB)/4, $0x1000100
DATA k6bcast<>+32(SB)/4, $0x3020302
DATA k6bcast<>+36(SB)/4, $0x3020302
DATA k6bcast<>+40(SB)/4, $0x3020302
DATA k6bcast<>+44(SB)/4, $0x3020302
DATA k6bcast<>+48(SB)/4, $0x3020302
DATA k6bcast<>+52(SB)/4, $0x3020302
DATA k6bcast<>+56(SB)/4, $0x3020302
DATA k6bcast<>+60(SB)/4, $0x3020302
DATA k6bcast<>+64(SB)/4, $0x5040504
DATA k6bcast<>+68(SB)/4, $0x5040504
DATA k6bcast<>+72(SB)/4, $0x5040504
DATA k6bcast<>+76(SB)/4, $0x5040504
DATA k6bcast<>+80(SB)/4, $0x5040504
DATA k6bcast<>+84(SB)/4, $0x5040504
DATA k6bcast<>+88(SB)/4, $0x5040504
DATA k6bcast<>+92(SB)/4, $0x5040504
DATA k6bcast<>+96(SB)/4, $0x7060706
DATA k6bcast<>+100(SB)/4, $0x7060706
DATA k6bcast<>+104(SB)/4, $0x7060706
DATA k6bcast<>+108(SB)/4, $0x7060706
DATA k6bcast<>+112(SB)/4, $0x7060706
DATA k6bcast<>+116(SB)/4, $0x7060706
DATA k6bcast<>+120(SB)/4, $0x7060706
DATA k6bcast<>+124(SB)/4, $0x7060706
DATA k6bcast<>+128(SB)/4, $0x9080908
DATA k6bcast<>+132(SB)/4, $0x9080908
DATA k6bcast<>+136(SB)/4, $0x9080908
DATA k6bcast<>+140(SB)/4, $0x9080908
DATA k6bcast<>+144(SB)/4, $0x9080908
DATA k6bcast<>+148(SB)/4, $0x9080908
DATA k6bcast<>+152(SB)/4, $0x9080908
DATA k6bcast<>+156(SB)/4, $0x9080908
DATA k6bcast<>+160(SB)/4, $0xb0a0b0a
DATA k6bcast<>+164(SB)/4, $0xb0a0b0a
DATA k6bcast<>+168(SB)/4, $0xb0a0b0a
DATA k6bcast<>+172(SB)/4, $0xb0a0b0a
DATA k6bcast<>+176(SB)/4, $0xb0a0b0a
DATA k6bcast<>+180(SB)/4, $0xb0a0b0a
DATA k6bcast<>+184(SB)/4, $0xb0a0b0a
DATA k6bcast<>+188(SB)/4, $0xb0a0b0a
DATA k6bcast<>+192(SB)/4, $0xd0c0d0c
DATA k6bcast<>+196(SB)/4, $0xd0c0d0c
DATA k6bcast<>+200(SB)/4, $0xd0c0d0c
DATA k6bcast<>+204(SB)/4, $0xd0c0d0c
DATA k6bcast<>+208(SB)/4, $0xd0c0d0c
DATA k6bcast<>+212(SB)/4, $0xd0c0d0c
DATA k6bcast<>+216(SB)/4, $0xd0c0d0c
DATA k6bcast<>+220(SB)/4, $0xd0c0d0c
DATA k6bcast<>+224(SB)/4, $0xf0e0f0e
DATA k6bcast<>+228(SB)/4, $0xf0e0f0e
DATA k6bcast<>+232(SB)/4, $0xf0e0f0e
DATA k6bcast<>+236(SB)/4, $0xf0e0f0e
DATA k6bcast<>+240(SB)/4, $0xf0e0f0e
DATA k6bcast<>+244(SB)/4, $0xf0e0f0e
DATA k6bcast<>+248(SB)/4, $0xf0e0f0e
DATA k6bcast<>+252(SB)/4, $0xf0e0f0e
GLOBL k6bcast<>(SB), RODATA|NOPTR, $256

// Deinterleaves 16 bytes: even indices first, then odd.
DATA k6deint<>+0(SB)/4, $0x6040200
DATA k6deint<>+4(SB)/4, $0xe0c0a08
DATA k6deint<>+8(SB)/4, $0x7050301
DATA k6deint<>+12(SB)/4, $0xf0d0b09
GLOBL k6deint<>(SB), RODATA|NOPTR, $16

// func dotQ4KAVX(w *byte, qs *int8, d *float32, bs *int16, nb int) float32
// Q4_K weights times a Q8_K activation (d per 256, bs = sums of 16).
TEXT ·dotQ4KAVX(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), R8
	MOVQ nb+32(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	TESTQ CX, CX
	JEQ q4kdone
q4kloop:
	// Unpack the 12 bytes of 6-bit scales and mins into 8+8 bytes.
	MOVL 4(SI), AX
	MOVL 8(SI), BX
	MOVL 12(SI), R9
	MOVL R9, R10
	SHRL $4, R10
	ANDL $0x0f0f0f0f, R10
	MOVL BX, R11
	SHRL $6, R11
	ANDL $0x03030303, R11
	SHLL $4, R11
	ORL R11, R10 // mins 4..7
	MOVL R9, R11
	ANDL $0x0f0f0f0f, R11
	MOVL AX, R12
	SHRL $6, R12
	ANDL $0x03030303, R12
	SHLL $4, R12
	ORL R12, R11 // scales 4..7
	ANDL $0x3f3f3f3f, BX // mins 0..3
	ANDL $0x3f3f3f3f, AX // scales 0..3
	VMOVD AX, X12
	VPINSRD $1, R11, X12, X12
	VPINSRD $2, BX, X12, X12
	VPINSRD $3, R10, X12, X12
	VPMOVZXBW X12, Y12 // words: 8 scales | 8 mins
	VINSERTI128 $1, X12, Y12, Y13 // scales | scales
	// X10 = [d*xd, dmin*xd]
	MOVL 0(SI), AX
	VMOVD AX, X10
	VCVTPH2PS X10, X10
	VBROADCASTSS (DX), X11
	VMULPS X11, X10, X10
	// mins: X1 += dmin * (mins . pairwise sums of bs)
	VEXTRACTI128 $1, Y12, X12
	VMOVDQU (R8), Y9
	VEXTRACTI128 $1, Y9, X8
	VPHADDW X8, X9, X9
	VPMADDWD X12, X9, X9
	VCVTDQ2PS X9, X9
	VMOVSHDUP X10, X8
	VBROADCASTSS X8, X8
	VFMADD231PS X8, X9, X1
	VPXOR Y2, Y2, Y2
	VMOVDQU 16(SI), Y3
	VPSRLW $4, Y3, Y4
	VPAND Y14, Y3, Y3
	VPAND Y14, Y4, Y4
	VPMADDUBSW 0(DI), Y3, Y3
	VPMADDUBSW 32(DI), Y4, Y4
	VPSHUFB k6bcast<>+0(SB), Y13, Y5
	VPSHUFB k6bcast<>+32(SB), Y13, Y6
	VPMADDWD Y5, Y3, Y3
	VPMADDWD Y6, Y4, Y4
	VPADDD Y3, Y2, Y2
	VPADDD Y4, Y2, Y2
	VMOVDQU 48(SI), Y3
	VPSRLW $4, Y3, Y4
	VPAND Y14, Y3, Y3
	VPAND Y14, Y4, Y4
	VPMADDUBSW 64(DI), Y3, Y3
	VPMADDUBSW 96(DI), Y4, Y4
	VPSHUFB k6bcast<>+64(SB), Y13, Y5
	VPSHUFB k6bcast<>+96(SB), Y13, Y6
	VPMADDWD Y5, Y3, Y3
	VPMADDWD Y6, Y4, Y4
	VPADDD Y3, Y2, Y2
	VPADDD Y4, Y2, Y2
	VMOVDQU 80(SI), Y3
	VPSRLW $4, Y3, Y4
	VPAND Y14, Y3, Y3
	VPAND Y14, Y4, Y4
	VPMADDUBSW 128(DI), Y3, Y3
	VPMADDUBSW 160(DI), Y4, Y4
	VPSHUFB k6bcast<>+128(SB), Y13, Y5
	VPSHUFB k6bcast<>+160(SB), Y13, Y6
	VPMADDWD Y5, Y3, Y3
	VPMADDWD Y6, Y4, Y4
	VPADDD Y3, Y2, Y2
	VPADDD Y4, Y2, Y2
	VMOVDQU 112(SI), Y3
	VPSRLW $4, Y3, Y4
	VPAND Y14, Y3, Y3
	VPAND Y14, Y4, Y4
	VPMADDUBSW 192(DI), Y3, Y3
	VPMADDUBSW 224(DI), Y4, Y4
	VPSHUFB k6bcast<>+192(SB), Y13, Y5
	VPSHUFB k6bcast<>+224(SB), Y13, Y6
	VPMADDWD Y5, Y3, Y3
	VPMADDWD Y6, Y4, Y4
	VPADDD Y3, Y2, Y2
	VPADDD Y4, Y2, Y2
	VCVTDQ2PS Y2, Y2
	VBROADCASTSS X10, Y5
	VFMADD231PS Y5, Y2, Y0
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, R8
	DECQ CX
	JNZ q4kloop
q4kdone:
	VHADDPS X1, X1, X9
	VHADDPS X9, X9, X9
	HSUM
	VSUBSS X9, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// func dotQ6KAVX(w *byte, qs *int8, d *float32, bs *int16, nb int) float32
// Q6_K weights times a Q8_K activation. The 6-bit values are used
// unsigned; their -32 offset is applied through 32*sum(scale*bs).
TEXT ·dotQ6KAVX(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), R8
	MOVQ nb+32(FP), CX
	VXORPS Y0, Y0, Y0
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x30303030, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VMOVDQU k6deint<>(SB), X13
	TESTQ CX, CX
	JEQ q6kdone
q6kloop:
	VMOVDQU 192(SI), X12
	VPSHUFB X13, X12, X11
	VPMOVSXBW X11, Y11 // even scales | odd scales, int16
	VPMOVSXBW X12, Y12 // scales in order, int16
	VPMADDWD (R8), Y12, Y12
	VPSLLD $5, Y12, Y12
	VPXOR Y2, Y2, Y2
	VPSUBD Y12, Y2, Y2
	VMOVDQU 0(SI), Y3
	VMOVDQU 32(SI), Y4
	VMOVDQU 128(SI), Y5
	VPAND Y15, Y3, Y6
	VPSLLW $4, Y5, Y7
	VPAND Y14, Y7, Y7
	VPOR Y7, Y6, Y6
	VPMADDUBSW 0(DI), Y6, Y6
	VPSHUFB k6bcast<>+0(SB), Y11, Y7
	VPMADDWD Y7, Y6, Y6
	VPADDD Y6, Y2, Y2
	VPAND Y15, Y4, Y6
	VPSLLW $2, Y5, Y7
	VPAND Y14, Y7, Y7
	VPOR Y7, Y6, Y6
	VPMADDUBSW 32(DI), Y6, Y6
	VPSHUFB k6bcast<>+32(SB), Y11, Y7
	VPMADDWD Y7, Y6, Y6
	VPADDD Y6, Y2, Y2
	VPSRLW $4, Y3, Y6
	VPAND Y15, Y6, Y6
	VMOVDQA Y5, Y7
	VPAND Y14, Y7, Y7
	VPOR Y7, Y6, Y6
	VPMADDUBSW 64(DI), Y6, Y6
	VPSHUFB k6bcast<>+64(SB), Y11, Y7
	VPMADDWD Y7, Y6, Y6
	VPADDD Y6, Y2, Y2
	VPSRLW $4, Y4, Y6
	VPAND Y15, Y6, Y6
	VPSRLW $2, Y5, Y7
	VPAND Y14, Y7, Y7
	VPOR Y7, Y6, Y6
	VPMADDUBSW 96(DI), Y6, Y6
	VPSHUFB k6bcast<>+96(SB), Y11, Y7
	VPMADDWD Y7, Y6, Y6
	VPADDD Y6, Y2, Y2
	VMOVDQU 64(SI), Y3
	VMOVDQU 96(SI), Y4
	VMOVDQU 160(SI), Y5
	VPAND Y15, Y3, Y6
	VPSLLW $4, Y5, Y7
	VPAND Y14, Y7, Y7
	VPOR Y7, Y6, Y6
	VPMADDUBSW 128(DI), Y6, Y6
	VPSHUFB k6bcast<>+128(SB), Y11, Y7
	VPMADDWD Y7, Y6, Y6
	VPADDD Y6, Y2, Y2
	VPAND Y15, Y4, Y6
	VPSLLW $2, Y5, Y7
	VPAND Y14, Y7, Y7
	VPOR Y7, Y6, Y6
	VPMADDUBSW 160(DI), Y6, Y6
	VPSHUFB k6bcast<>+160(SB), Y11, Y7
	VPMADDWD Y7, Y6, Y6
	VPADDD Y6, Y2, Y2
	VPSRLW $4, Y3, Y6
	VPAND Y15, Y6, Y6
	VMOVDQA Y5, Y7
	VPAND Y14, Y7, Y7
	VPOR Y7, Y6, Y6
	VPMADDUBSW 192(DI), Y6, Y6
	VPSHUFB k6bcast<>+192(SB), Y11, Y7
	VPMADDWD Y7, Y6, Y6
	VPADDD Y6, Y2, Y2
	VPSRLW $4, Y4, Y6
	VPAND Y15, Y6, Y6
	VPSRLW $2, Y5, Y7
	VPAND Y14, Y7, Y7
	VPOR Y7, Y6, Y6
	VPMADDUBSW 224(DI), Y6, Y6
	VPSHUFB k6bcast<>+224(SB), Y11, Y7
	VPMADDWD Y7, Y6, Y6
	VPADDD Y6, Y2, Y2
	VCVTDQ2PS Y2, Y2
	MOVWLZX 208(SI), AX
	VMOVD AX, X10
	VCVTPH2PS X10, X10
	VMULSS (DX), X10, X10
	VBROADCASTSS X10, Y10
	VFMADD231PS Y10, Y2, Y0
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, R8
	DECQ CX
	JNZ q6kloop
q6kdone:
	HSUM
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET
