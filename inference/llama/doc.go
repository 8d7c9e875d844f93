// Package llama runs the forward pass of llama-family transformer models
// (llama, mistral — stored as llama in GGUF — qwen2, qwen3, phi3, gemma2
// and gemma3) from GGUF weights, and of the BERT-family embedding models
// bert and nomic-bert (Encoder).
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
//     qwen2, qwen3, phi3 and gemma rotate the halves (x[i], x[i+d/2]) — ggml's
//     "NEOX" mode. Using
//     the wrong one raises no error and produces garbage, so the layout is
//     fixed per architecture in Config.RopeNeox.
//   - Q/K norm: qwen3 RMS-normalises each head of Q and K (HeadDim weights,
//     attn_q_norm/attn_k_norm) before RoPE.
//   - Fused matrices: phi3 stores Q, K and V as one attn_qkv matrix and the
//     gate and up projections as one ffn_up matrix of 2·FFNDim rows (gate
//     first); it scales Q by 1/sqrt(HeadDim) before attention (QPreScale).
//   - Partial RoPE: only the first RopeDims of each head rotate (phi3's
//     rope.dimension_count); the rest pass through.
//   - longrope (su): per-pair frequency divisors, rope_factors_long for a
//     State longer than RopeOrigContext, rope_factors_short otherwise, and
//     cos/sin multiplied by RopeAttnFactor.
//   - YaRN: RoPE scaling type "yarn" (Qwen's long-context files): each
//     pair's angle mixes the scaled and unscaled ones by ggml's ramp between
//     its correction dimensions, and cos/sin grow by 1 + 0.1·ln(factor).
//   - Gemma block (gemma2, gemma3): embeddings scaled by sqrt(Dim), RMS
//     norms before and after attention and the FFN, GeGLU (ggml's GELU
//     table: gelu-tanh of the gate rounded to a half), Q scaled before
//     attention, soft-capping (gemma2: c·tanh(x/c) of the attention scores
//     and of the output logits), and sliding-window layers that see only
//     the last SlidingWindow positions (gemma3's with their own RoPE base).
//     The files' norm weights already hold Gemma's +1.
//   - KV cache: the rotated keys and the values of every position so far,
//     per layer (ctxLen × KVHeads × HeadDim each), of Config.KVType: IEEE
//     halves by default (KVF16, rounded to nearest even, as llama.cpp's
//     default cache), or float32 (KVF32) at twice the memory; KVBytesBatch
//     gives the size. It is mapped outside the Go heap (so it does not
//     raise the collector's target) and unmapped when its State is
//     collected.
//   - Ring: a sliding-window layer's cache keeps only its window plus one
//     batch of positions (SlidingWindow+batch-1 rows), position p in row
//     p mod rows; attention reads the window's rows in position order, in
//     two runs when it wraps, which gives the same sums as a full cache.
//     A gemma3 State's KV memory is its few global layers' context plus
//     window-sized rings. Truncate cannot go back past what a ring still
//     holds. With halves the query is rounded to a half too, as ggml
//     converts it to F16 (the vec-dot type of F16 keys); the scores of a
//     head over all positions are one tensor.DotF16Rows call and its output
//     one tensor.AddScaledF16Rows call, both accumulating in float32, and
//     the softmax stays float32.
//   - State: one sequence's position, KV cache and scratch buffers. Every
//     buffer is allocated by NewState, so Forward allocates nothing. Weights
//     live in Model and are shared by all States; a State is used by one
//     goroutine at a time.
//   - Encoder: a bidirectional embedding model (bert, nomic-bert). Token
//     embeddings plus token type 0's row (and bert's learned position
//     embeddings) are layer-normalised, then each block is post-norm:
//     x = LN(x + attn(x)), x = LN(x + FFN(x)), LayerNorm with weight and
//     bias (ggml_norm). bert has Q/K/V biases and a GELU FFN with biases
//     (ggml's GELU table); nomic-bert a fused QKV, NEOX RoPE and SwiGLU.
//     Every token attends to every other; there is no KV cache.
//   - Pooling: how Encoder.Embed makes one vector of a sequence
//     ({arch}.pooling_type): mean of all tokens (1), the first, [CLS],
//     token (2) or the last (3); then L2 normalisation (Normalize).
//   - Prefill / decode: Forward with several tokens multiplies each weight
//     matrix by the whole batch (tensor.MatMul, weights read once per batch);
//     with one token it uses tensor.MatVec, bound by memory bandwidth.
package llama
