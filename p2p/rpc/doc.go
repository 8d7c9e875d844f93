// Package rpc is the one way Cairn's small control protocols talk on a
// libp2p stream: open a stream, write one bounded message, optionally read
// one bounded answer, all under named timeouts. It imports nothing of
// Cairn's, so every protocol package (p2p/infer, p2p/gossip's catch-up, the
// replicator's holdings and intents) can use it with any host.Host.
//
// Words:
//   - Message: the whole payload of one direction of a stream; the writer
//     closes its side after it, the reader reads to EOF, never past Max.
//   - OpenTimeout: how long opening a stream (dial, protocol negotiation)
//     may take when the caller's context has no earlier deadline.
//   - MessageTimeout: how long writing or reading one message may take.
package rpc
