// Int8 block kernels of Q8_0 and Q4_0, included by kernels_amd64.s (AVX2)
// and kernels_vnni_amd64.s (AVX-512 VNNI). The includer defines the
// function names FN_* and the byte products:
//
//	DOTB(s, u, d): d = int32 sums of four u8(u)*s8(s) products per lane
//	DOTB2(s1, u1, s2, u2, d): d = DOTB(s1, u1) + DOTB(s2, u2)
//
// d must differ from the sources; DOTB2 may clobber u1 and u2. Both
// forms give the same int32 sums (the int16 intermediates of
// VPMADDUBSW cannot saturate for Q8_0 activations in [-127, 127] against
// Q4_0 nibbles or absolute Q8_0 weights), so the two builds return
// identical bits. Y15 holds int16 ones for the AVX2 form.

// Software prefetch distance for weight streams: the hardware prefetchers
// stop at 4 KiB page boundaries, which matters for memory-mapped weights
// in 4 KiB pages.
#define PFD 1024

// hsum reduces Y0 to its lane sum in X0.
#define HSUM \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VHADDPS X0, X0, X0 \
	VHADDPS X0, X0, X0

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
	DOTB(Y4, Y5, Y2) \
	VCVTDQ2PS Y2, Y2 \
	VPERMPS Y10, idx, Y4 \
	VFMADD231PS Y4, Y2, acc

// func dotQ80AVX(w *byte, qs *int8, d *float32, nb int) float32
// Scales are converted four blocks at a time.
TEXT FN_Q80(SB), NOSPLIT, $0-36
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
	PREFETCHT0 PFD(SI)
	PREFETCHT0 PFD+64(SI)
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
	DOTB(32*k(DI), Y3, Y5) \
	VCVTDQ2PS Y5, Y5 \
	VPERMPS Y10, idx, Y4 \
	VFMADD231PS Y4, Y5, acc

// func dotQ40AVX(w *byte, qs *int8, d, c *float32, nb int) float32
// c[b] = 8*d[b]*sum(qs of block b).
TEXT FN_Q40(SB), NOSPLIT, $0-44
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
	PREFETCHT0 PFD(SI)
	PREFETCHT0 PFD+64(SI)
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

// func dotQ80x4AVX(w *byte, qs *int8, di *float32, nb, qstride int, out *float32)
// One Q8_0 row against four Q8_0 activations (vector j's values at
// qs+j*qstride; di holds their scales interleaved, di[4*b+j]). out[j] gets
// the four products. Each weight block is loaded and made absolute once.
TEXT FN_Q80X4(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ di+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ qstride+32(FP), R8
	MOVQ out+40(FP), R9
	LEAQ (R8)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VPCMPEQW Y15, Y15, Y15
	VPSRLW $15, Y15, Y15
	PERMIDX
	TESTQ CX, CX
	JEQ q80x4done
q80x4loop:
	MOVWLZX (SI), AX
	VMOVD AX, X11
	VCVTPH2PS X11, X11
	VBROADCASTSS X11, X11
	VMULPS (DX), X11, X10
	VMOVDQU 2(SI), Y12
	VPSIGNB Y12, Y12, Y13
	VMOVDQU (DI), Y4
	VPSIGNB Y12, Y4, Y4
	DOTB(Y4, Y13, Y14)
	VCVTDQ2PS Y14, Y4
	VPERMPS Y10, Y6, Y5
	VFMADD231PS Y5, Y4, Y0
	VMOVDQU (DI)(R8*1), Y4
	VPSIGNB Y12, Y4, Y4
	DOTB(Y4, Y13, Y14)
	VCVTDQ2PS Y14, Y4
	VPERMPS Y10, Y7, Y5
	VFMADD231PS Y5, Y4, Y1
	VMOVDQU (DI)(R10*1), Y4
	VPSIGNB Y12, Y4, Y4
	DOTB(Y4, Y13, Y14)
	VCVTDQ2PS Y14, Y4
	VPERMPS Y10, Y8, Y5
	VFMADD231PS Y5, Y4, Y2
	VMOVDQU (DI)(R11*1), Y4
	VPSIGNB Y12, Y4, Y4
	DOTB(Y4, Y13, Y14)
	VCVTDQ2PS Y14, Y4
	VPERMPS Y10, Y9, Y5
	VFMADD231PS Y5, Y4, Y3
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $16, DX
	DECQ CX
	JNZ q80x4loop
q80x4done:
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVUPS X0, (R9)
	VZEROUPPER
	RET

// func dotQ40x4AVX(w *byte, qs *int8, di, ci *float32, nb, qstride int, out *float32)
// One Q4_0 row against four Q8_0 activations; ci[4*b+j] = 8*d*sum(q) of
// vector j's block b, interleaved like di.
TEXT FN_Q40X4(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ qs+8(FP), DI
	MOVQ di+16(FP), DX
	MOVQ ci+24(FP), R12
	MOVQ nb+32(FP), CX
	MOVQ qstride+40(FP), R8
	MOVQ out+48(FP), R9
	LEAQ (R8)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y14, Y14, Y14
	VPCMPEQW Y15, Y15, Y15
	VPSRLW $15, Y15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	PERMIDX
	TESTQ CX, CX
	JEQ q40x4done
q40x4loop:
	MOVWLZX (SI), AX
	VMOVD AX, X11
	VCVTPH2PS X11, X11
	VBROADCASTSS X11, X11
	VFNMADD231PS (R12), X11, X14
	VMULPS (DX), X11, X10
	VMOVDQU 2(SI), X12
	VPSRLW $4, X12, X4
	VINSERTI128 $1, X4, Y12, Y12
	VPAND Y13, Y12, Y12
	DOTB((DI), Y12, Y4)
	VCVTDQ2PS Y4, Y4
	VPERMPS Y10, Y6, Y5
	VFMADD231PS Y5, Y4, Y0
	DOTB((DI)(R8*1), Y12, Y4)
	VCVTDQ2PS Y4, Y4
	VPERMPS Y10, Y7, Y5
	VFMADD231PS Y5, Y4, Y1
	DOTB((DI)(R10*1), Y12, Y4)
	VCVTDQ2PS Y4, Y4
	VPERMPS Y10, Y8, Y5
	VFMADD231PS Y5, Y4, Y2
	DOTB((DI)(R11*1), Y12, Y4)
	VCVTDQ2PS Y4, Y4
	VPERMPS Y10, Y9, Y5
	VFMADD231PS Y5, Y4, Y3
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $16, DX
	ADDQ $16, R12
	DECQ CX
	JNZ q40x4loop
q40x4done:
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VADDPS X14, X0, X0
	VMOVUPS X0, (R9)
	VZEROUPPER
	RET

// func dotQ40PairAVX(w *byte, qp *int8, d, c *float32, nb int) float32
// Q4_0 row kernel over nb blocks (a multiple of 4) against an activation in
// pair layout: for blocks b, b+1 the 64 bytes are y_b[0:16], y_b+1[0:16],
// y_b[16:32], y_b+1[16:32]. Two blocks then share each 256-bit operation:
// one lane per block. c[b] = 8*d[b]*sum(q of block b).
TEXT FN_Q40PAIR(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ qp+8(FP), DI
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
	// Y6 = [0,0,0,0,1,1,1,1], Y7 = Y6 + 2: lanes of the block scales for
	// the first and second pair of each group of four blocks.
	VPXOR X6, X6, X6
	MOVL $1, AX
	VMOVD AX, X7
	VPBROADCASTD X7, X7
	VINSERTI128 $1, X7, Y6, Y6
	MOVL $2, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	VPADDD Y8, Y6, Y7
	TESTQ CX, CX
	JEQ q40pdone
q40ploop:
	PREFETCHT0 PFD(SI)
	PREFETCHT0 PFD+64(SI)
	SCALES4(18)
	VFNMADD231PS (R8), X10, X11
	VMULPS (DX), X10, X10
	VMOVDQU 2(SI), X3
	VINSERTI128 $1, 20(SI), Y3, Y3
	VPSRLW $4, Y3, Y4
	VPAND Y14, Y3, Y3
	VPAND Y14, Y4, Y4
	DOTB2((DI), Y3, 32(DI), Y4, Y2)
	VCVTDQ2PS Y2, Y3
	VPERMPS Y10, Y6, Y5
	VFMADD231PS Y5, Y3, Y0
	VMOVDQU 38(SI), X3
	VINSERTI128 $1, 56(SI), Y3, Y3
	VPSRLW $4, Y3, Y4
	VPAND Y14, Y3, Y3
	VPAND Y14, Y4, Y4
	DOTB2(64(DI), Y3, 96(DI), Y4, Y2)
	VCVTDQ2PS Y2, Y3
	VPERMPS Y10, Y7, Y5
	VFMADD231PS Y5, Y3, Y1
	ADDQ $72, SI
	ADDQ $128, DI
	ADDQ $16, DX
	ADDQ $16, R8
	SUBQ $4, CX
	JNZ q40ploop
q40pdone:
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VADDPS X11, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

