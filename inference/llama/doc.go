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
//     per layer (ctxLen × KVHeads × HeadDim each), of Config.KVType: IEEE
//     halves by default (KVF16, rounded to nearest even, as llama.cpp's
//     default cache), or float32 (KVF32) at twice the memory; KVBytes gives
//     the size. With halves the query is rounded to a half too, as ggml
//     converts it to F16 (the vec-dot type of F16 keys); the scores of a
//     head over all positions are one tensor.DotF16Rows call and its output
//     one tensor.AddScaledF16Rows call, both accumulating in float32, and
//     the softmax stays float32.
//   - State: one sequence's position, KV cache and scratch buffers. Every
//     buffer is allocated by NewState, so Forward allocates nothing. Weights
//     live in Model and are shared by all States; a State is used by one
//     goroutine at a time.
//   - Prefill / decode: Forward with several tokens multiplies each weight
//     matrix by the whole batch (tensor.MatMul, weights read once per batch);
//     with one token it uses tensor.MatVec, bound by memory bandwidth.
package llama
