// Package tensor holds the numeric kernels of Cairn's inference engine: the
// GGML tensor types, their block layouts, dequantisation, quantisation, and
// the matrix-vector and matrix-matrix products the forward pass spends its
// time in.
//
// Words used here:
//
//   - Type: a GGML tensor type id (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
//     Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS), numbered as in
//     GGUF files.
//   - Block: the unit a type is stored in. F32/F16/BF16 blocks hold one
//     element; Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and IQ4_NL blocks hold 32
//     elements behind an f16 scale (and an f16 min for Q4_1/Q5_1, 32 fifth
//     bits for Q5_0/Q5_1); the K-quants and IQ4_XS hold 256 elements in
//     super-blocks with packed sub-block scales (Q5_K is Q4_K's layout plus
//     32 bytes of fifth bits). IQ4_NL and IQ4_XS nibbles index a fixed
//     table of 16 non-uniform levels. Layouts are byte-for-byte those of
//     ggml (block_q4_0, block_q8_0, block_q4_K, ... in ggml-common.h).
//   - Fallback types: llama-quantize stores a tensor whose rows are not a
//     multiple of 256 in a 32-element type instead of its K-quant (Q5_0 for
//     Q4_K, Q5_1 for Q5_K, Q8_0 for Q6_K, IQ4_NL for Q2_K, Q3_K and
//     IQ4_XS), so the files of small models carry these types.
//   - Row: one matrix row, Cols elements, stored in Cols/BlockElems blocks.
//     A Matrix is Rows rows back to back, as a GGUF tensor with ne[0]=Cols
//     and ne[1]=Rows.
//   - Activation: the float32 vector a matrix is multiplied with. As in ggml,
//     it is first converted to the type's "vec dot type": rounded to f16 for
//     F16 weights, to bf16 for BF16 weights, quantized to Q8_0 blocks (f16
//     scale, 32 int8) for Q8_0/Q4_0/Q5_0/IQ4_NL weights, to Q8_1 blocks
//     (Q8_0 plus an f16 d*Σq that carries the min) for Q4_1/Q5_1 weights,
//     and to Q8_K blocks (f32 scale, 256 int8, 16-element sums) for the
//     K-quants and IQ4_XS. The products then
//     run in integer arithmetic per block, which is what makes them fast and
//     what makes their results match llama.cpp's.
//   - Lane layout: eight Q8_0 activations interleaved four bytes at a time,
//     so one 256-bit load holds the same four elements of all eight, one
//     vector per 32-bit lane (lanes.go).
//   - Tile: sixteen Q4_0 rows stored block by block, four weight bytes of
//     each row side by side (interleave.go). Matrix.Interleave rearranges
//     a resident model's Q4_0 rows in tiles where the CPU has AVX-512 VNNI
//     and BW.
//   - Tile order: how a Q4_0 row's product is summed on such CPUs, tiles
//     and plain rows alike: per block the exact integer sum of (q-8)*x,
//     converted, times (dw*dx), added block after block (dotQ40Seq is its
//     Go reference). Elsewhere Q4_0 sums in the pair kernels' order (four
//     partial sums per block).
//
// MatVec is the decode kernel (bound by memory bandwidth: each weight byte is
// read once per token), MatMul the prompt kernel (each weight row is reused
// for every vector of the batch, four vectors per pass over the row, so it
// is bound by arithmetic). Both split rows over a persistent pool of
// GOMAXPROCS workers; the calling goroutine always works too.
//
// On amd64 with AVX2, FMA and F16C (checked at start-up) the inner products
// run in assembly (kernels_amd64.s): F16 through vcvtph2ps, the integer
// types through vpmaddubsw/vpmaddwd on 32-byte blocks, with software
// prefetch because memory-mapped weights in 4 KiB pages defeat the hardware
// prefetchers. MatMul has its own kernels that take one weight row (two for
// float types) against four vectors, so each weight is loaded and converted
// once per four products. Where the CPU has AVX-512 VNNI (and AVX-512VL),
// the Q8_0, Q4_K and Q6_K kernels run in builds that replace
// VPMADDUBSW+VPMADDWD by VPDPBUSD and VPMADDWD+VPADDD by VPDPWSSD
// (kernels_vnni_amd64.s; both builds share kernels_int8_amd64.h and give
// the same int32 sums, hence the same bits), and F16's MatMul takes four
// weight rows at a time in the sixteen extra registers
// (kernels_avx512_amd64.s). MatVecs runs the products of one input with
// several matrices (Q, K and V; gate and up) as one job of the pool. On arm64 NEON kernels (kernels_arm64.s) do the F32
// and F16 dot products and the integer block sums of Q8_0, Q4_0, Q4_K and
// Q6_K, whose scales Go applies in the pure-Go kernels' order. Elsewhere, for
// BF16 and Q5_K on arm64, or with the purego build tag, the pure-Go kernels
// of dot_go.go run; they are also what the tests hold the assembly to. The
// types llama-quantize's mixtures add (legacy.go, kquant_low.go) have AVX2
// row kernels (kernels_lowbit_amd64.s, kernels_kquant_low_amd64.s) that
// MatVec uses and MatMul calls once per vector; elsewhere they run in Go.
// Their Go kernels follow the assembly's lane order and fused
// multiply-adds, so both give the same bits (for the 32-element types, the
// bits of ggml's AVX2 kernels): on a random-weight model one activation
// rounding can turn a greedy token, so summation order matters there.
//
// MatMulBatch is the kernel of batched decode steps (a few vectors, one per
// sequence): for Q4_0 its lane kernels (kernels_batch_amd64.s on AVX2,
// q40SeqLanes in the tile order) broadcast each weight block's 4-byte
// groups against activations in lane layout, so a block is loaded and
// expanded once for eight vectors and the results come out one lane per
// vector (interleaved matrices take the tile kernel instead);
// other types and CPUs get MatMulEach: MatVec of each vector, a cached
// chunk of rows at a time, weights read once. Either way each vector's
// results are MatVec's bit for bit (the lane kernels keep MatVec's float
// order per lane), so a batched sequence computes what it would alone.
// MatMul of Q4_0 runs the same lane kernels, so a prompt's Q4_0 rows are
// MatVec's too. MatMulExact reports this exactness, so that a batched pass
// may multiply rows of several sequences in one call. Where the CPU has
// the tile kernels (kernels_inter_amd64.s) every Q4_0 product, lone,
// batched or prompt, plain or interleaved, sums in the tile order; on
// tiles one 512-bit register holds a group of four bytes of sixteen rows
// and each vector's four bytes are broadcast against it, so a block is
// expanded once for all vectors and no sum crosses lanes (eight vectors:
// 0.21 CPU ns per block and vector against 0.38-0.51 for the lane
// kernels, BenchmarkInterLanes).
//
// MatMul of Q8_0 and Q4_K (lanes_q80_amd64.go, lanes_q4k_amd64.go) lays the
// prompt's vectors out in lanes (Q8_0; Q8_K with its sub-block sums) and
// takes each lane's whole block sum in int32 (VPDPBUSD; Q8_0's vectors
// biased to unsigned, the bias taken back through the weight block's sum;
// Q4_K's sub-block scales and mins applied in int32), then one conversion
// and one FMA per block for eight products. A product's float operations
// do not depend on the number of vectors, the vector's place among them or
// how the rows are split, and the AVX2 builds (VPMADDUBSW, whose int16
// sums cannot saturate there) give the VNNI builds' bits. They are not
// MatVec's: a prompt's rows and a decode step's differ in the last bits, as
// for the float types' four-vector kernels.
//
// Benchmarks (go test -run '^$' -bench . ./inference/tensor) report weight
// GB/s for decode-shaped MatVec beside the plain read bandwidth measured in
// the same run, GFLOP/s for prompt-shaped MatMul beside 64 MatVec calls, and
// per-CPU-second rates that stay meaningful on a loaded machine.
package tensor
