// Package fetch is Cairn's bulk block transfer: the /cairn/fetch/1.0.0
// protocol (a server that streams blocks of a DAG straight from the store)
// and a client that fetches one DAG from several peers at once.
//
// Words used in this package:
//
//   - root: the CID of the DAG a request is about (a UnixFS file or
//     directory). Every request names one, and the server's Gate decides
//     per (peer, root) whether anything is served.
//   - structure: the dag-pb nodes of a DAG that have links (the small
//     internal nodes). The client fetches them first, from one peer, to
//     learn the list of leaves.
//   - leaf: a block without links (a raw block, or a dag-pb node with no
//     links). Leaves hold the bytes and are the bulk of a DAG.
//   - want: one block the client still lacks.
//   - piece: a run of consecutive wants, about PieceSize bytes, requested
//     from one peer in one request (like a BitTorrent piece).
//   - frame: one message of the server's response stream: a block
//     (cid, length, bytes), a "missing" notice, an end-of-request marker or
//     an error.
//
// # Wire format
//
// A request is a uvarint length (at most MaxRequestSize) followed by:
// version byte (1), kind byte, root CID (uvarint length + bytes), then for
// KindLeaves uvarint start and end (at most MaxRequestCIDs leaves), for
// KindCIDs a uvarint count (1..MaxRequestCIDs) and that many CIDs. A
// response frame is a type byte, then for a block the CID, a uvarint
// length (at most MaxBlockSize) and the bytes; for "missing" the CID; for
// an error a uvarint length (at most MaxErrorLen) and UTF-8 text; nothing
// for end. Every answer ends with an end frame, or an error frame after
// which the server closes the stream.
//
// # Policy
//
// The server asks its Gate about (peer, root) for every request and serves
// only blocks of that root's DAG (a listed CID outside it is answered as
// missing), so a peer cleared for one repo cannot pull another's blocks by
// naming them.
//
// # Scheduling
//
// The client probes every peer at once (whether it serves the root, and
// the least of three round trips, or one when Options.RTT already knows
// the peer's) but waits only for the first to answer: the fetch starts on
// it, and each other peer joins the running fetch when its answer comes
// (a far peer's probe, still running when the fetch is done, is cut and
// is no error). Until a peer the node knows (Options.RTT) to be about as
// near or nearer has answered, the others keep to their shares counting
// it; nobody waits for a clearly farther one. Pieces go out by weighted
// share: a peer's weight is
// (5ms+best RTT)/(5ms+its RTT) — so 40 ms against loopback weighs 1/9 —
// times its delivery rate relative to the best peer's when that is below
// one quarter (rates count after three pieces). A peer may run one piece ahead of its share, or further when it is idle,
// about as near as the nearest and twice as fast as any other (so faster
// peers take more); idle peers
// steal
// (duplicate) the tail of another peer's pipeline at the end when they
// would deliver it sooner — a peer that has delivered nothing yet is
// expected one round trip after its request — and always from a peer
// clearly farther, so the end never waits on a far link while
// a near peer is idle (the far copy is ignored, its stream reset when
// the fetch is done). Peers with
// equal round trips thus share evenly, nearer peers carry the bulk, and a
// peer that turns slow or dies has its work re-queued. A block larger than a
// piece is a piece alone and is itself the "one piece ahead", so some peer
// that has it may always take it. Waiting peers are woken on every change
// of the queue, the shares or the live peers; should every peer wait with
// nothing in flight and no probe outstanding, the fetch fails naming the blocks left rather than
// waiting forever.
//
// One stream per peer carries a pipeline of requests (InFlight pieces,
// enough to fill the 64 MiB window a long link needs); the transport's flow
// control paces the blocks (no per-block round trips). The server reads a
// few blocks ahead of the stream, so store reads overlap sending. Every
// block is hashed on arrival and compared with its CID, on a goroutine of
// its own per peer (checker) so that hashing overlaps reading the next
// block; a piece counts as done only when all its blocks are checked, and
// a peer that sends a bad block is dropped for the rest of the fetch, that
// block and every later one of its pieces going to others.
// Blocks already in the local store are never requested, so a fetch that
// was interrupted resumes where it stopped.
package fetch
