// Package ollama serves Cairn's inference over Ollama's HTTP API, so that
// Ollama clients (the ollama npm and Python libraries, Open WebUI, most
// editor plug-ins) work against a Cairn node: GET /api/version, /api/tags,
// /api/ps; POST /api/show, /api/generate, /api/chat, /api/pull.
//
// It holds no engine of its own: every generation goes to a Backend (the
// node's inference router, which runs the model locally or forwards the
// request to a member; or an openai.Server), so queueing, keep-alive,
// policy and forwarding are the same as on the OpenAI API.
//
// Words:
//   - Name: a model as Ollama clients write it, "org/name" or
//     "org/name:tag". The tag "latest" (or none) is the repo's only GGUF;
//     any other tag names a GGUF file of the repo: "acme/llama:q4.gguf" is
//     Cairn's model id "acme/llama/q4.gguf". Names are listed back the
//     same way ("acme/stories:latest").
//   - Options: Ollama's sampling options (temperature, top_k, top_p, min_p,
//     seed, num_predict, stop, repeat_penalty, repeat_last_n,
//     presence_penalty, frequency_penalty); left out, Ollama's defaults
//     apply (temperature 0.8, top_k 40, top_p 0.9, repeat_penalty 1.1 over
//     the last 64 tokens). Options about the runtime (num_ctx, num_thread,
//     num_gpu, …) are accepted and ignored, as Ollama ignores options a
//     backend has no use for; an option of the wrong JSON type is a 400.
//   - Stream: NDJSON, one object per line, the last with "done": true and
//     Ollama's counters (durations in nanoseconds). "stream": false gives
//     one object. An error after the stream began is one {"error": …}
//     line.
//   - Generate vs chat: /api/generate renders the prompt (and "system")
//     through the model's chat template as Ollama does, unless "raw" is
//     true; /api/chat renders the messages.
//   - Caller: the checked API key of a request (RequireKey puts it in the
//     context): its Authorization header, passed on by HandlerBackend, and
//     its jurisdiction, which BoundModels and a node's Puller consult.
//   - HandlerBackend: the Backend over an OpenAI http.Handler (the node's
//     inference router): each generation is one streamed OpenAI request,
//     its server-sent events read back into text and usage.
//   - Embed: /api/embed takes "input" (a string or an array of strings)
//     and answers "embeddings", one L2-normalised vector each, from an
//     embedding model (bert, nomic-bert); "truncate" (default true) cuts
//     inputs longer than the context, false refuses them; /api/embeddings
//     takes "prompt" and answers "embedding". "dimensions" other than the
//     model's own size is refused (embeddings are not shortened). Through
//     HandlerBackend each is one POST /v1/embeddings on the router. A chat
//     model is refused (400).
//
// Not served (answered with a clear error, never faked): images, "format"
// (JSON mode and schemas), "suffix" (fill-in-the-middle), tools.
package ollama
