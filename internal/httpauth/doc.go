// Package httpauth is the one bearer-token check of Cairn's HTTP APIs: the
// Hugging Face API (hfapi), the OpenAI API (inference/openai) and the
// inference router in front of it (inference/router) all read the node's
// http.tokens through it.
//
// Words:
//   - Key: one http.tokens entry: the token a client sends and, when set,
//     the jurisdiction the key is bound to.
//   - Bound key: a key with a jurisdiction; its holder counts, in residency
//     decisions, as a node of that jurisdiction.
//   - Open: no key configured; every request passes, bound to nothing.
//   - Scheme: "Bearer", matched without regard to case (RFC 7235).
package httpauth
