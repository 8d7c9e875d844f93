// Package infer is /cairn/infer/1.0.0, the libp2p protocol on which a
// Cairn node hands an OpenAI request it cannot serve to a member that can,
// and on which members tell each other what they serve. New takes a host
// and registers the handler; Query and Forward are the asking side. Which
// member to ask, and whether the residency policy allows it, is the
// caller's decision (inference/router); this package moves the bytes.
//
// Words:
//
//   - Frame: one kind byte, a 4-byte big-endian payload length, the
//     payload. A stream carries frames in both directions.
//   - Query: a stream whose first frame is KindQuery; the answer is one
//     KindAdvert frame (a bounded exchange on p2p/rpc).
//   - Advert: what a node serves: whether local inference is on, the
//     models it holds (repo, revision, GGUF files) and has loaded, and its
//     load (generations running plus waiting).
//   - Request: a stream whose first frame is KindRequest: the HTTP path
//     (/v1/completions, /v1/chat/completions or /v1/embeddings), the model id and the JSON
//     body exactly as the client sent it.
//   - Response: KindHead (HTTP status and content type), then KindData
//     frames holding the body as the serving node's OpenAI server wrote it
//     (server-sent events pass through unchanged), then KindEnd. A stream
//     that ends without KindEnd was cut: the serving node died or was
//     disconnected.
//   - Handler: what the serving node answers with: its advert, and the
//     forwarded request run against its own OpenAI server.
package infer
