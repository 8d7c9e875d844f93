//go:build amd64 && !purego

#include "textflag.h"

// SiLU(h)*u in the operations and order of silu.go (SiLU, exp32), so that
// these kernels and the Go code give the same bits: 16 lanes with AVX-512
// (2^n by VSCALEFPS), 8 with AVX2 (2^n built from its exponent bits); both
// exact for the clamped n in [-126, 127]. Each constant is stored eight
// times (32 bytes), for AVX2's memory operands.

// Constants, in order: sign, expLo, expHi, log2e, C1, C2, P0..P5, 1, 127.
DATA siluConst<>+0(SB)/4, $0x80000000
DATA siluConst<>+4(SB)/4, $0x80000000
DATA siluConst<>+8(SB)/4, $0x80000000
DATA siluConst<>+12(SB)/4, $0x80000000
DATA siluConst<>+16(SB)/4, $0x80000000
DATA siluConst<>+20(SB)/4, $0x80000000
DATA siluConst<>+24(SB)/4, $0x80000000
DATA siluConst<>+28(SB)/4, $0x80000000
DATA siluConst<>+32(SB)/4, $-87.33654
DATA siluConst<>+36(SB)/4, $-87.33654
DATA siluConst<>+40(SB)/4, $-87.33654
DATA siluConst<>+44(SB)/4, $-87.33654
DATA siluConst<>+48(SB)/4, $-87.33654
DATA siluConst<>+52(SB)/4, $-87.33654
DATA siluConst<>+56(SB)/4, $-87.33654
DATA siluConst<>+60(SB)/4, $-87.33654
DATA siluConst<>+64(SB)/4, $88.02
DATA siluConst<>+68(SB)/4, $88.02
DATA siluConst<>+72(SB)/4, $88.02
DATA siluConst<>+76(SB)/4, $88.02
DATA siluConst<>+80(SB)/4, $88.02
DATA siluConst<>+84(SB)/4, $88.02
DATA siluConst<>+88(SB)/4, $88.02
DATA siluConst<>+92(SB)/4, $88.02
DATA siluConst<>+96(SB)/4, $1.44269504088896341
DATA siluConst<>+100(SB)/4, $1.44269504088896341
DATA siluConst<>+104(SB)/4, $1.44269504088896341
DATA siluConst<>+108(SB)/4, $1.44269504088896341
DATA siluConst<>+112(SB)/4, $1.44269504088896341
DATA siluConst<>+116(SB)/4, $1.44269504088896341
DATA siluConst<>+120(SB)/4, $1.44269504088896341
DATA siluConst<>+124(SB)/4, $1.44269504088896341
DATA siluConst<>+128(SB)/4, $0.693359375
DATA siluConst<>+132(SB)/4, $0.693359375
DATA siluConst<>+136(SB)/4, $0.693359375
DATA siluConst<>+140(SB)/4, $0.693359375
DATA siluConst<>+144(SB)/4, $0.693359375
DATA siluConst<>+148(SB)/4, $0.693359375
DATA siluConst<>+152(SB)/4, $0.693359375
DATA siluConst<>+156(SB)/4, $0.693359375
DATA siluConst<>+160(SB)/4, $-2.12194440e-4
DATA siluConst<>+164(SB)/4, $-2.12194440e-4
DATA siluConst<>+168(SB)/4, $-2.12194440e-4
DATA siluConst<>+172(SB)/4, $-2.12194440e-4
DATA siluConst<>+176(SB)/4, $-2.12194440e-4
DATA siluConst<>+180(SB)/4, $-2.12194440e-4
DATA siluConst<>+184(SB)/4, $-2.12194440e-4
DATA siluConst<>+188(SB)/4, $-2.12194440e-4
DATA siluConst<>+192(SB)/4, $1.9875691500e-4
DATA siluConst<>+196(SB)/4, $1.9875691500e-4
DATA siluConst<>+200(SB)/4, $1.9875691500e-4
DATA siluConst<>+204(SB)/4, $1.9875691500e-4
DATA siluConst<>+208(SB)/4, $1.9875691500e-4
DATA siluConst<>+212(SB)/4, $1.9875691500e-4
DATA siluConst<>+216(SB)/4, $1.9875691500e-4
DATA siluConst<>+220(SB)/4, $1.9875691500e-4
DATA siluConst<>+224(SB)/4, $1.3981999507e-3
DATA siluConst<>+228(SB)/4, $1.3981999507e-3
DATA siluConst<>+232(SB)/4, $1.3981999507e-3
DATA siluConst<>+236(SB)/4, $1.3981999507e-3
DATA siluConst<>+240(SB)/4, $1.3981999507e-3
DATA siluConst<>+244(SB)/4, $1.3981999507e-3
DATA siluConst<>+248(SB)/4, $1.3981999507e-3
DATA siluConst<>+252(SB)/4, $1.3981999507e-3
DATA siluConst<>+256(SB)/4, $8.3334519073e-3
DATA siluConst<>+260(SB)/4, $8.3334519073e-3
DATA siluConst<>+264(SB)/4, $8.3334519073e-3
DATA siluConst<>+268(SB)/4, $8.3334519073e-3
DATA siluConst<>+272(SB)/4, $8.3334519073e-3
DATA siluConst<>+276(SB)/4, $8.3334519073e-3
DATA siluConst<>+280(SB)/4, $8.3334519073e-3
DATA siluConst<>+284(SB)/4, $8.3334519073e-3
DATA siluConst<>+288(SB)/4, $4.1665795894e-2
DATA siluConst<>+292(SB)/4, $4.1665795894e-2
DATA siluConst<>+296(SB)/4, $4.1665795894e-2
DATA siluConst<>+300(SB)/4, $4.1665795894e-2
DATA siluConst<>+304(SB)/4, $4.1665795894e-2
DATA siluConst<>+308(SB)/4, $4.1665795894e-2
DATA siluConst<>+312(SB)/4, $4.1665795894e-2
DATA siluConst<>+316(SB)/4, $4.1665795894e-2
DATA siluConst<>+320(SB)/4, $1.6666665459e-1
DATA siluConst<>+324(SB)/4, $1.6666665459e-1
DATA siluConst<>+328(SB)/4, $1.6666665459e-1
DATA siluConst<>+332(SB)/4, $1.6666665459e-1
DATA siluConst<>+336(SB)/4, $1.6666665459e-1
DATA siluConst<>+340(SB)/4, $1.6666665459e-1
DATA siluConst<>+344(SB)/4, $1.6666665459e-1
DATA siluConst<>+348(SB)/4, $1.6666665459e-1
DATA siluConst<>+352(SB)/4, $5.0000001201e-1
DATA siluConst<>+356(SB)/4, $5.0000001201e-1
DATA siluConst<>+360(SB)/4, $5.0000001201e-1
DATA siluConst<>+364(SB)/4, $5.0000001201e-1
DATA siluConst<>+368(SB)/4, $5.0000001201e-1
DATA siluConst<>+372(SB)/4, $5.0000001201e-1
DATA siluConst<>+376(SB)/4, $5.0000001201e-1
DATA siluConst<>+380(SB)/4, $5.0000001201e-1
DATA siluConst<>+384(SB)/4, $1.0
DATA siluConst<>+388(SB)/4, $1.0
DATA siluConst<>+392(SB)/4, $1.0
DATA siluConst<>+396(SB)/4, $1.0
DATA siluConst<>+400(SB)/4, $1.0
DATA siluConst<>+404(SB)/4, $1.0
DATA siluConst<>+408(SB)/4, $1.0
DATA siluConst<>+412(SB)/4, $1.0
DATA siluConst<>+416(SB)/4, $127
DATA siluConst<>+420(SB)/4, $127
DATA siluConst<>+424(SB)/4, $127
DATA siluConst<>+428(SB)/4, $127
DATA siluConst<>+432(SB)/4, $127
DATA siluConst<>+436(SB)/4, $127
DATA siluConst<>+440(SB)/4, $127
DATA siluConst<>+444(SB)/4, $127
GLOBL siluConst<>(SB), RODATA|NOPTR, $448

// SILUPOLY: y = exp32's polynomial of the clamped x, from n = round(x*log2e)
// (r and z clobbered); c1, c2, p0..p5 and one are operands, registers or
// memory.
#define SILUPOLY(c1, c2, p0, p1, p2, p3, p4, p5, one, x, n, r, z, y) \
	VMULPS c1, n, r \
	VSUBPS r, x, r \
	VMULPS c2, n, z \
	VSUBPS z, r, r \
	VMULPS r, r, z \
	VMULPS p0, r, y \
	VADDPS p1, y, y \
	VMULPS r, y, y \
	VADDPS p2, y, y \
	VMULPS r, y, y \
	VADDPS p3, y, y \
	VMULPS r, y, y \
	VADDPS p4, y, y \
	VMULPS r, y, y \
	VADDPS p5, y, y \
	VMULPS z, y, y \
	VADDPS r, y, y \
	VADDPS one, y, y

#define K(i) siluConst<>+(32*i)(SB)

// func siluMulZ(h, u *float32, n int)
// n a multiple of 16.
TEXT ·siluMulZ(SB), NOSPLIT, $0-24
	MOVQ h+0(FP), SI
	MOVQ u+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSS K(0), Z16
	VBROADCASTSS K(1), Z17
	VBROADCASTSS K(2), Z18
	VBROADCASTSS K(3), Z19
	VBROADCASTSS K(4), Z20
	VBROADCASTSS K(5), Z21
	VBROADCASTSS K(6), Z22
	VBROADCASTSS K(7), Z23
	VBROADCASTSS K(8), Z24
	VBROADCASTSS K(9), Z25
	VBROADCASTSS K(10), Z26
	VBROADCASTSS K(11), Z27
	VBROADCASTSS K(12), Z28
szloop:
	VMOVUPS (SI), Z0
	VXORPS Z16, Z0, Z1
	VMAXPS Z1, Z17, Z1 // x first: MAXPS returns it when it is NaN
	VMINPS Z1, Z18, Z1
	VMULPS Z19, Z1, Z2
	VRNDSCALEPS $0, Z2, Z2
	SILUPOLY(Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z1, Z2, Z3, Z4, Z5)
	VSCALEFPS Z2, Z5, Z5
	VADDPS Z28, Z5, Z5
	VDIVPS Z5, Z0, Z6
	VMULPS (DI), Z6, Z6
	VMOVUPS Z6, (SI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ szloop
	VZEROUPPER
	RET

// func siluMulAVX(h, u *float32, n int)
// n a multiple of 8.
TEXT ·siluMulAVX(SB), NOSPLIT, $0-24
	MOVQ h+0(FP), SI
	MOVQ u+8(FP), DI
	MOVQ n+16(FP), CX
	VMOVUPS K(1), Y12
	VMOVUPS K(2), Y13
saloop:
	VMOVUPS (SI), Y0
	VXORPS K(0), Y0, Y1
	VMAXPS Y1, Y12, Y1
	VMINPS Y1, Y13, Y1
	VMULPS K(3), Y1, Y2
	VROUNDPS $0, Y2, Y2
	SILUPOLY(K(4), K(5), K(6), K(7), K(8), K(9), K(10), K(11), K(12), Y1, Y2, Y3, Y4, Y5)
	VCVTPS2DQ Y2, Y6
	VPADDD K(13), Y6, Y6
	VPSLLD $23, Y6, Y6
	VMULPS Y6, Y5, Y5
	VADDPS K(12), Y5, Y5
	VDIVPS Y5, Y0, Y6
	VMULPS (DI), Y6, Y6
	VMOVUPS Y6, (SI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ saloop
	VZEROUPPER
	RET
