//go:build amd64 && !purego

#include "textflag.h"

// Two SHA-256 lanes with the SHA extensions. Per lane the state is kept as
// SHA256RNDS2 wants it: ABEF (words a,b,e,f from the top lane down) and
// CDGH. Lane a: X1 ABEF, X2 CDGH, message schedule X5..X8; lane b: X3,
// X4, X9..X12. X0 is SHA256RNDS2's implicit W+K operand, X13 and X14 are
// temporaries, X15 the byte-swap mask. SHA256RNDS2's result feeds the next
// one of its lane (a chain as long as its latency times 32 per chunk), so
// the two lanes' instructions alternate and each runs in the other's
// shadow. The other vector instructions are VEX-encoded (three operands,
// unaligned memory operands); the SHA ones have only legacy forms, which
// mix with VEX-128 at no cost.

// SHA-256's round constants, four per 16-byte row.
DATA kc<>+0(SB)/8, $0x71374491428a2f98
DATA kc<>+8(SB)/8, $0xe9b5dba5b5c0fbcf
DATA kc<>+16(SB)/8, $0x59f111f13956c25b
DATA kc<>+24(SB)/8, $0xab1c5ed5923f82a4
DATA kc<>+32(SB)/8, $0x12835b01d807aa98
DATA kc<>+40(SB)/8, $0x550c7dc3243185be
DATA kc<>+48(SB)/8, $0x80deb1fe72be5d74
DATA kc<>+56(SB)/8, $0xc19bf1749bdc06a7
DATA kc<>+64(SB)/8, $0xefbe4786e49b69c1
DATA kc<>+72(SB)/8, $0x240ca1cc0fc19dc6
DATA kc<>+80(SB)/8, $0x4a7484aa2de92c6f
DATA kc<>+88(SB)/8, $0x76f988da5cb0a9dc
DATA kc<>+96(SB)/8, $0xa831c66d983e5152
DATA kc<>+104(SB)/8, $0xbf597fc7b00327c8
DATA kc<>+112(SB)/8, $0xd5a79147c6e00bf3
DATA kc<>+120(SB)/8, $0x1429296706ca6351
DATA kc<>+128(SB)/8, $0x2e1b213827b70a85
DATA kc<>+136(SB)/8, $0x53380d134d2c6dfc
DATA kc<>+144(SB)/8, $0x766a0abb650a7354
DATA kc<>+152(SB)/8, $0x92722c8581c2c92e
DATA kc<>+160(SB)/8, $0xa81a664ba2bfe8a1
DATA kc<>+168(SB)/8, $0xc76c51a3c24b8b70
DATA kc<>+176(SB)/8, $0xd6990624d192e819
DATA kc<>+184(SB)/8, $0x106aa070f40e3585
DATA kc<>+192(SB)/8, $0x1e376c0819a4c116
DATA kc<>+200(SB)/8, $0x34b0bcb52748774c
DATA kc<>+208(SB)/8, $0x4ed8aa4a391c0cb3
DATA kc<>+216(SB)/8, $0x682e6ff35b9cca4f
DATA kc<>+224(SB)/8, $0x78a5636f748f82ee
DATA kc<>+232(SB)/8, $0x8cc7020884c87814
DATA kc<>+240(SB)/8, $0xa4506ceb90befffa
DATA kc<>+248(SB)/8, $0xc67178f2bef9a3f7
GLOBL kc<>(SB), RODATA|NOPTR, $256

// flip swaps the bytes of each 32-bit word (the message is big-endian).
DATA flip<>+0(SB)/8, $0x0405060700010203
DATA flip<>+8(SB)/8, $0x0c0d0e0f08090a0b
GLOBL flip<>(SB), RODATA|NOPTR, $16

// LOADW(off, wa, wb): message words off/4.. of the chunk, both lanes.
#define LOADW(off, wa, wb) \
	VMOVDQU off(SI), wa \
	VPSHUFB X15, wa, wa \
	VMOVDQU off(DX), wb \
	VPSHUFB X15, wb, wb

// SCHED(r, w3, w2, w1): the next four schedule words into r, which held
// the words 16 back; w3, w2, w1 hold those 12, 8 and 4 back.
#define SCHED(r, w3, w2, w1) \
	SHA256MSG1 w3, r \
	VPALIGNR $4, w2, w1, X13 \
	VPADDD X13, r, r \
	SHA256MSG2 w1, r

// RND4(k, wa, wb): four rounds of both lanes with message words wa, wb and
// the constants at byte k of kc.
#define RND4(k, wa, wb) \
	VPADDD kc<>+k(SB), wa, X13 \
	VPADDD kc<>+k(SB), wb, X14 \
	VMOVDQA X13, X0 \
	SHA256RNDS2 X0, X1, X2 \
	VMOVDQA X14, X0 \
	SHA256RNDS2 X0, X3, X4 \
	VPSHUFD $0x0e, X13, X0 \
	SHA256RNDS2 X0, X2, X1 \
	VPSHUFD $0x0e, X14, X0 \
	SHA256RNDS2 X0, X4, X3

// TOABEF(lo, hi): state words a..d in lo and e..h in hi into ABEF, CDGH.
#define TOABEF(lo, hi) \
	VPSHUFD $0xb1, lo, lo \
	VPSHUFD $0x1b, hi, hi \
	VMOVDQA lo, X13 \
	VPALIGNR $8, hi, lo, lo \
	VPBLENDW $0xf0, X13, hi, hi

// FROMABEF(lo, hi): back from ABEF, CDGH to a..d, e..h.
#define FROMABEF(lo, hi) \
	VPSHUFD $0x1b, lo, lo \
	VPSHUFD $0xb1, hi, hi \
	VMOVDQA lo, X13 \
	VPBLENDW $0xf0, hi, lo, lo \
	VPALIGNR $8, X13, hi, hi

// func blocks2(h *[16]uint32, a, b *byte, n int)
TEXT ·blocks2(SB), NOSPLIT, $64-32
	MOVQ h+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	VZEROUPPER
	VMOVDQU flip<>(SB), X15
	VMOVDQU 0(DI), X1
	VMOVDQU 16(DI), X2
	TOABEF(X1, X2)
	VMOVDQU 32(DI), X3
	VMOVDQU 48(DI), X4
	TOABEF(X3, X4)
loop:
	VMOVDQU X1, 0(SP)
	VMOVDQU X2, 16(SP)
	VMOVDQU X3, 32(SP)
	VMOVDQU X4, 48(SP)
	LOADW(0, X5, X9)
	RND4(0, X5, X9)
	LOADW(16, X6, X10)
	RND4(16, X6, X10)
	LOADW(32, X7, X11)
	RND4(32, X7, X11)
	LOADW(48, X8, X12)
	RND4(48, X8, X12)
	SCHED(X5, X6, X7, X8)
	SCHED(X9, X10, X11, X12)
	RND4(64, X5, X9)
	SCHED(X6, X7, X8, X5)
	SCHED(X10, X11, X12, X9)
	RND4(80, X6, X10)
	SCHED(X7, X8, X5, X6)
	SCHED(X11, X12, X9, X10)
	RND4(96, X7, X11)
	SCHED(X8, X5, X6, X7)
	SCHED(X12, X9, X10, X11)
	RND4(112, X8, X12)
	SCHED(X5, X6, X7, X8)
	SCHED(X9, X10, X11, X12)
	RND4(128, X5, X9)
	SCHED(X6, X7, X8, X5)
	SCHED(X10, X11, X12, X9)
	RND4(144, X6, X10)
	SCHED(X7, X8, X5, X6)
	SCHED(X11, X12, X9, X10)
	RND4(160, X7, X11)
	SCHED(X8, X5, X6, X7)
	SCHED(X12, X9, X10, X11)
	RND4(176, X8, X12)
	SCHED(X5, X6, X7, X8)
	SCHED(X9, X10, X11, X12)
	RND4(192, X5, X9)
	SCHED(X6, X7, X8, X5)
	SCHED(X10, X11, X12, X9)
	RND4(208, X6, X10)
	SCHED(X7, X8, X5, X6)
	SCHED(X11, X12, X9, X10)
	RND4(224, X7, X11)
	SCHED(X8, X5, X6, X7)
	SCHED(X12, X9, X10, X11)
	RND4(240, X8, X12)
	VPADDD 0(SP), X1, X1
	VPADDD 16(SP), X2, X2
	VPADDD 32(SP), X3, X3
	VPADDD 48(SP), X4, X4
	ADDQ $64, SI
	ADDQ $64, DX
	DECQ CX
	JNZ loop
	FROMABEF(X1, X2)
	VMOVDQU X1, 0(DI)
	VMOVDQU X2, 16(DI)
	FROMABEF(X3, X4)
	VMOVDQU X3, 32(DI)
	VMOVDQU X4, 48(DI)
	VZEROUPPER
	RET

// func maxLeaf() uint32
TEXT ·maxLeaf(SB), NOSPLIT, $0-4
	XORL AX, AX
	XORL CX, CX
	CPUID
	MOVL AX, ret+0(FP)
	RET

// func cpuid7ebx() uint32
TEXT ·cpuid7ebx(SB), NOSPLIT, $0-4
	MOVL $7, AX
	XORL CX, CX
	CPUID
	MOVL BX, ret+0(FP)
	RET
