// Package llama runs the forward pass of llama-family transformer models
// (llama, mistral — stored as llama in GGUF — and qwen2) from GGUF weights.
//
// Words used here:
//
//   - Config: the hyper-parameters read from "{arch}.*" metadata: embedding
//     size (Dim), layers, query heads, key/value heads (grouped-query
//     attention shares one KV head between Heads/KVHeads query heads), head
//     size, feed-forward size, vocabulary, RMSNorm epsilon, RoPE base and
//     rotated dimensions.
//   - RoPE layout: llama rotates adjacent pairs (x[2i], x[2i+1]) — ggml's
//     "normal" mode, which GGUF converters prepare the q/k weights for;
//     qwen2 rotates the halves (x[i], x[i+d/2]) — ggml's "NEOX" mode. Using
//     the wrong one raises no error and produces garbage, so the layout is
//     fixed per architecture in Config.RopeNeox.
//   - KV cache: the rotated keys and the values of every position so far,
//     per layer, in float32 (ctxLen × KVHeads × HeadDim each).
//   - State: one sequence's position, KV cache and scratch buffers. Every
//     buffer is allocated by NewState, so Forward allocates nothing. Weights
//     live in Model and are shared by all States; a State is used by one
//     goroutine at a time.
//   - Prefill / decode: Forward with several tokens multiplies each weight
//     matrix by the whole batch (tensor.MatMul, weights read once per batch);
//     with one token it uses tensor.MatVec, bound by memory bandwidth.
package llama
