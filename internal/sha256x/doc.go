// Package sha256x hashes two byte strings with SHA-256 at once, for the
// places where Cairn hashes in pairs: a block's CID and the file it belongs
// to over the same bytes (import), two blocks checked side by side (fetch,
// verified reads).
//
// With the CPU's SHA extensions one message's rounds form a single chain of
// dependent SHA256RNDS2 instructions, so a core runs SHA-256 at the
// latency of that chain (about 1.8 GB/s on a Zen 4 core) with its
// throughput half used. Sum2 runs two independent chains interleaved in
// one loop: two digests for little more than the time of one. Without the
// extensions (or off amd64) it is two crypto/sha256 sums.
//
// Words:
//
//   - lane: one of the two messages and its hash state.
//   - chunk: a 64-byte block of SHA-256's message (the compression
//     function's input; "block" is Cairn's content block).
package sha256x
