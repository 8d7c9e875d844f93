// Package forward is the wire form of /cairn/infer/1.0.0, the libp2p
// protocol on which a Cairn node hands an OpenAI request it cannot serve
// to a member that can, and on which members tell each other what they
// serve. It does no I/O of its own beyond the io.Reader and io.Writer it is
// given, and has no libp2p import.
//
// Words used here:
//
//   - frame: one kind byte, a 4-byte big-endian payload length, the
//     payload. A stream carries frames in both directions.
//   - query: a stream whose first frame is KindQuery; the answer is one
//     KindAdvert frame.
//   - advert: what a node serves: whether local inference is on, the
//     models it holds (repo, revision, GGUF files) and has loaded, and its
//     load (generations running plus waiting).
//   - request: a stream whose first frame is KindRequest: the HTTP path
//     (/v1/completions or /v1/chat/completions), the model id and the JSON
//     body exactly as the client sent it.
//   - response: KindHead (HTTP status and content type), then KindData
//     frames holding the body as the serving node's OpenAI server wrote it
//     (server-sent events pass through unchanged), then KindEnd. A stream
//     that ends without KindEnd was cut: the serving node died or was
//     disconnected.
package forward
