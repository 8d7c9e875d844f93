// Package inference is Cairn's pure-Go engine for llama-family GGUF models
// (llama, mistral, qwen2): load a model, tokenize, run the forward pass,
// sample, and stream the generated text.
//
// Words used here:
//
//   - Model: a loaded GGUF file — weights, tokenizer, chat template and
//     metadata (Info). Safe for concurrent use; loading does not allocate a
//     KV cache. Close waits for running generations, then frees the weights.
//   - weights mode (Config.Weights): "mmap" maps the file: instant open,
//     page cache shared, evictable under memory pressure; "resident"
//     copies it into huge-page memory and drops its page cache (held once,
//     never evicted; Q4_0 decodes about a fifth faster from huge pages).
//     The default ("") is resident when the file takes at most half of
//     MemAvailable on Linux, else mmap. Load (any io.ReaderAt, e.g. a file
//     in the store) always reads into memory: huge-page memory by default,
//     the Go heap tensor by tensor with "mmap".
//   - Session: one sequence with its own KV cache of Info().ContextLength
//     positions. The weights are shared. A session runs one generation at a
//     time and reuses the cached keys/values of the prompt prefix it shares
//     with its previous request (Result.CachedTokens).
//   - batch (continuous batching): Model.Generate runs up to
//     Config.Parallel generations (default 4) together. Between decode
//     steps requests join, first come first, and leave; each step is one
//     pass over the weights (llama.Batch) that multiplies every matrix with
//     one row per decoding sequence plus a chunk of at most Config.Batch
//     prompt tokens, so decode, bound by memory bandwidth, serves all
//     sequences for about the cost of one, and a long prompt delays the
//     others' next token by one chunk at most. Each sequence has its own
//     Session and KV cache; at most Parallel sessions exist, so the KV
//     memory is at most Parallel × Info.KVCacheBytes. A request waits for
//     a place; a client that goes away (ctx, or emit failing) leaves at the
//     next step with the result cut back to what it was sent. Greedy output
//     is the same as alone; sampled output can differ, because rows
//     multiplied in a batch go through other kernels and logits differ in
//     the last bits.
//   - context length: positions a session holds, prompt plus generated
//     tokens; by default the trained context, capped at DefaultMaxContext.
//     A prompt that leaves no room fails with ErrContextLength; generation
//     that fills the context stops with FinishLength.
//   - prefill / decode: processing the prompt (batched matrix products) /
//     generating one token at a time (bound by memory bandwidth); Result
//     reports both speeds.
//   - embedding model: a bert or nomic-bert GGUF (Model.IsEmbedding).
//     Model.Embed tokenizes each input ([CLS] … [SEP]), runs the encoder
//     and returns its pooled, L2-normalised vector; Generate refuses it
//     (ErrNotGenerative) and Embed refuses generative models
//     (ErrNotEmbedding).
//   - stop string: text that ends generation; neither it nor any prefix of
//     it that might still become it is ever passed to emit.
//
// Typical use:
//
//	m, err := inference.Open("model.gguf")
//	if err != nil { ... }
//	defer m.Close()
//	res, err := m.Generate(ctx, inference.Request{
//		Prompt:    "Once upon a time",
//		MaxTokens: 64,
//		Params:    sample.Params{Temperature: 0.7, TopP: 0.9, Seed: 1},
//		Stop:      []string{"\n\n"},
//	}, func(piece string) error { _, err := os.Stdout.WriteString(piece); return err })
//
// A chat server renders messages with the template in Info().ChatTemplate
// (package chat) and passes the result as Request.Prompt: special-token texts
// in the prompt such as "<|im_start|>" are parsed as tokens, and the BOS
// token is added only when the vocabulary asks for it (a template that
// writes Info().BOS itself should have it stripped from the text first).
//
// Subpackages: gguf (file format), tensor (types and kernels), llama
// (forward pass), tokenizer, sample, chat.
package inference
