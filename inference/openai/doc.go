// Package openai serves Cairn's inference engine over OpenAI's HTTP API:
// GET /v1/models, POST /v1/completions and POST /v1/chat/completions, with
// server-sent-event streaming, and POST /v1/embeddings, so that any OpenAI
// client works against a Cairn node.
//
// Words used here:
//
//   - model id: the name a client sends as "model". Ids are resolved to a
//     GGUF file by a Models implementation (the node's finds them in its
//     store: "org/name", "org/name@rev", "org/name/file.gguf").
//   - slot: one loaded model (one GGUF file, however many ids name it) with
//     its places: the model runs up to Engine.Parallel generations at once
//     (default inference.DefaultParallel, 4) in one continuous batch
//     (package inference: each pass over the weights serves every
//     generation in it, prompts fed in chunks between decode steps), each
//     with its own KV cache. A request takes a place to join the batch and
//     gives it back when it ends or its client goes away.
//   - queue: requests waiting for a place, first come first served. At
//     most Config.Queue wait; the next gets 503 with Retry-After.
//   - keep-alive: how long a slot stays loaded after its last request
//     (Ollama's keep_alive: a duration such as "5m" or a number of seconds;
//     0 unloads right after the request, a negative value keeps it loaded).
//     A janitor goroutine (Server.Run) unloads expired slots.
//   - room: at most Config.MaxLoaded models are loaded at once (default 3;
//     Ollama's OLLAMA_MAX_LOADED_MODELS) and, with Config.MaxMemory, their
//     weights plus a KV cache per place stay under that many bytes (a
//     model's size is estimated from its file and GGUF header until it has
//     been loaded once). A request for a model that is not loaded unloads
//     the least recently used model with no request running or queued;
//     while every loaded model is busy it waits, first come first served,
//     holding a place of its model (so further requests for that model
//     wait behind it and past Config.Queue get 503), until one goes idle or
//     the client goes away. A model is never unloaded under a generation. A
//     model larger than MaxMemory alone is refused (503, model_too_large).
//     Server.Occupancy and LoadedModel.Pending report how full it is.
//
// Parameters follow OpenAI's API with llama.cpp's sampling defaults
// (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05) when a request leaves
// them out; temperature 0 is greedy. max_tokens defaults to "until the model
// ends or the context is full"; a prompt that does not fit the context is a
// 400 (context_length_exceeded), a generation that reaches the end of the
// context finishes with "length". frequency_penalty and presence_penalty
// (range -2..2, default 0: off) are applied as OpenAI defines them: the
// logit of each token that occurs c > 0 times among the tokens generated so
// far in this completion (not the prompt) is lowered by
// c*frequency_penalty + presence_penalty, after llama.cpp's multiplicative
// "repeat_penalty" (an extension, over the last 64 tokens of prompt and
// completion) and before top-k, top-p, min-p and temperature, so greedy
// decoding sees them too. "n" must be 1; logprobs, tools and
// JSON response formats are refused with a 400 rather than ignored.
//
// Embeddings (/v1/embeddings, Server.Embed) come from embedding models
// (bert, nomic-bert GGUFs): "input" is a string, an array of strings, an
// array of token ids or an array of such arrays (ids of the model's
// vocabulary, used as they are); each is pooled as the model's
// pooling_type says and L2-normalised. "encoding_format" is "float" or
// "base64" (little-endian float32s); "dimensions" is refused unless it is
// the model's own size; usage counts prompt_tokens. An input longer than
// the context is a 400 (context_length_exceeded) unless the extension
// "truncate": true cuts it. A chat model asked for embeddings is a 400
// (model_not_embedding), an embedding model asked to generate a 400
// (model_not_generative): unlike llama.cpp's server, Cairn does not pool
// the hidden states of generative models, whose vectors are not trained
// for retrieval.
//
// Errors have OpenAI's shape: {"error":{"message","type","param","code"}},
// written by WriteError (Error marshals to it); a model is listed as a
// ModelObject. Both are exported for the node's inference router
// (inference/router), which sits in front of this server on a daemon,
// answers for models other members serve, and applies the jurisdiction
// binding of API keys; this server only checks that a key is one of
// Config.APIKeys (internal/httpauth). node builds the server (StartDaemon,
// Node.NewOpenAI for `cairn run` without a daemon).
package openai
