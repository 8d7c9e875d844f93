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
