// Package bench measures Cairn's inference speed on a random-weight
// TinyLlama-1.1B-shaped model (dim 2048, 22 layers, 32 heads, 4 KV heads,
// FFN 5632, vocabulary 32000) in F16, Q8_0 and Q4_0, beside references
// measured in the same run:
//
//   - memory bandwidth: how fast this machine streams a buffer larger than
//     its caches (MemoryBandwidth). Decode reads every weight once per token,
//     so decode tokens/s × weight bytes is at most this; the benchmarks
//     report the ratio.
//   - llama.cpp: when the environment variable LLAMA_CPP_BENCH names a
//     llama-bench binary, it is run on the same GGUF file with the same
//     thread count and its tokens/s and the ratio are reported.
//
// BenchmarkBatchDecode measures continuous batching: eight concurrent
// requests' aggregate tokens/s through inference.Model.Generate beside one
// request alone, in the same run, and how many of the eight streams gave
// the tokens the same request gives alone (streams_as_alone).
//
// Run:
//
//	go test ./inference/bench -run '^$' -bench . -benchtime 20x
//
// Generated models are cached in the system temp directory
// (cairn-bench-*.gguf), never in the repository.
package bench
