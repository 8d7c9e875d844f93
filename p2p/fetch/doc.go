// Package fetch is Cairn's bulk block transfer: the /cairn/fetch/1.0.0
// protocol (a server that streams blocks of a DAG straight from the store)
// and a client that fetches one DAG from several peers at once, full
// holders and nodes still fetching it alike (a swarm).
//
// Words:
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
//     (cid, length, bytes), a "missing" notice, a have-set, an
//     end-of-request marker or an error.
//   - full holder: a peer whose store holds the whole DAG; it answers a
//     have request with "all".
//   - partial holder: a peer that is fetching the DAG itself. It serves
//     every block it has verified and stored, at once.
//   - have-set: which leaves of a DAG a node holds, as a bitfield over the
//     DAG's leaves in depth-first order (the numbering of KindLeaves), not
//     a list of CIDs. Haves is a node's record of the have-sets of the
//     DAGs it is fetching, shared by its Client and its Server.
//   - generation: a have-set's count of changes; a client names the one
//     it has and is sent what came after it.
//   - origin: a full holder while partial holders fetch from it too.
//   - seed: a partial holder that completed during the fetch; still
//     scheduled as a partial holder, holding every leaf.
//   - recent blocks: the bytes of the blocks a have-set recorded last,
//     served from memory.
//   - owner: of a leaf no partial holder has yet, the fetcher that asks
//     an origin for it (rendezvous hashing over the fetchers' peer IDs);
//     the others wait to get it from the owner.
//
// # Wire format
//
// A request is a uvarint length (at most MaxRequestSize) followed by:
// version byte (1), kind byte, root CID (uvarint length + bytes), then for
// KindLeaves uvarint start and end (at most MaxRequestCIDs leaves), for
// KindCIDs a uvarint count (1..MaxRequestCIDs) and that many CIDs, for
// KindHave the uvarint generation the client has (0: none). A
// response frame is a type byte, then for a block the CID, a uvarint
// length (at most MaxBlockSize) and the bytes; for "missing" the CID; for
// an error a uvarint length (at most MaxErrorLen) and UTF-8 text; nothing
// for end; for a have-set the uvarint generation and a mode byte: 0 all
// (nothing follows), 1 bitfield (uvarint leaf count, at most
// MaxHaveLeaves, then ceil(count/8) bytes, leaf i in bit i%8 of byte i/8,
// unused bits clear; count 0 while the holder does not know the leaves
// yet), 2 delta (uvarint leaf count, uvarint n at most MaxHaveDelta, n
// uvarint leaf indexes added since the client's generation; sent when
// smaller than the bitfield). Every answer ends with an end frame, or an
// error frame after which the server closes the stream.
//
// A have request naming the server's current generation waits at the
// server (ServerConfig.HaveWait, default 2s) until the set changes: a
// long poll, so an idle partial holder costs one small request per wait
// and a busy one is heard of as blocks arrive. Streams that only probe or
// ask have-sets do not count against MaxStreams.
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
// control paces the blocks (no per-block round trips). HostOptions starts
// every yamux stream at a 16 MiB window (StartWindow): yamux's own start
// of 256 KiB never grew on a near link. It sends yamux frames of up to
// 256 KiB (FrameSize) and gathers the TLS records of each into one
// write(2) (batchTLS). The server reads up to nine
// blocks of a request at once (fewer each when it answers more than four
// streams), ahead of the stream, so store reads (and their hash checks,
// two at a time on the reading goroutines: checkPairs) overlap sending
// and each other; a store that can
// (store.Store.ReadOnce) hands each block over in a buffer the stream
// sends from, without a copy. Every
// block is hashed on arrival and compared with its CID, on a goroutine of
// its own per peer (checker) so that hashing overlaps reading the next
// block: offered first to Options.Check (a consumer that hashes the
// block's file anyway checks both in one pass), else two blocks queued
// together are hashed together (sha256x.Sum2); verified blocks are stored in groups (a batch collects while
// the previous one is written), so a slow store write never holds up
// the stream; a piece counts as done only when all its blocks are checked, and
// a peer that sends a bad block is dropped for the rest of the fetch, that
// block and every later one of its pieces going to others.
// Blocks already in the local store are never requested, so a fetch that
// was interrupted resumes where it stopped.
//
// # Swarm
//
// With a Haves (ClientConfig and ServerConfig share one), a fetch tracks
// its root from the start (a probe of a tracked root is answered, so
// nodes starting together find each other), sets the leaf count once it
// knows the structure, and records every leaf once it is stored; the
// server serves what is recorded at once. The probe ends with a have
// request; a partial holder then has a have stream of its own, long
// polled at most every Options.HaveInterval (default 250ms; with more
// than 20 partial holders, that times their count over 20, so a node
// hears about as many have-sets per second in a swarm of any size). A
// have-set that grew wakes only that holder's worker. While a
// partial holder takes part (or, with a Haves, until every probe
// answered) pieces are drawn per peer from what it holds, a MiB or a
// block at a time, at most two owed per partial holder and eight by all
// partial holders together, so a want is bound to a holder late, when
// it has room and the block may have spread, and holders' queues of
// requests stay short (a block served sooner spreads sooner): the
// rarest wants first among
// the live partial holders, ties in a random order of this fetch, and a
// clearly nearer holder with room first among equals. A partial holder
// that completes during the fetch (its have-set turns "all") stays a
// partial holder holding every leaf, a seed: it is asked like one, not
// spared like an origin. A full holder then
// owes one piece at a time and sends only wants no partial holder has,
// and of those the ones this node owns — any, once nobody owes the node
// a block and none came for a second (or three pieces' time from that
// holder) — so the origin sends about one copy in all (measured by
// BenchmarkSwarm). A partial holder that sends a bad block is dropped for
// the fetch like any peer; one that dies has its pieces re-queued (a dead
// idle one is noticed by its have stream). An idle partial holder with
// nothing queued that it holds doubles a piece another peer owes when it
// would deliver it a quarter second sooner (a holder of rare blocks has
// a long queue), or any sooner once nothing is queued; full holders do
// not steal. Parked workers are no stall
// while a partial holder may still grow; the fetch fails when no block
// came for StallTimeout with nothing owed. A worker whose stream carried
// no request for 30s opens a fresh one before its next (a capped
// pipeline can leave a stream idle past the server's IdleTimeout).
// AskHave follows a holder's have-set from outside a fetch (progress
// views). With a Haves, a peer whose probe says it lacks the root is
// probed again (after HaveInterval, then twice as long up to 8×, for
// StallTimeout), so a member that starts fetching the DAG a moment later
// becomes a source. Options.OnBlock sees every block once it is verified
// and stored (a consumer hashing files as they stream in).
//
// Once a peer has asked about the DAG (a probe, a have request or a
// block request), a have-set keeps the bytes of the last 32 MiB of blocks
// it recorded (recent blocks; a node fetching alone keeps none, so its
// heap stays small): peers ask a partial holder mostly for what it got
// last, and the server sends those from memory, without the store read
// and its hash check (ServerConfig.SourceOnly turns this off, for a
// Source other than the Client's store). The blocks are dropped when
// the set completes.
//
// # Rate limits
//
// ServerConfig.UploadRate and ClientConfig.DownloadRate (bytes per
// second, 0 unlimited) are token buckets (Limiter) shared by every stream
// of the server or the client: block frames wait for them before they
// are written or after they are read (the transport's flow control then
// holds the sender). Server.Served counts the block bytes sent to each
// peer. progress.ParseRate reads "16MiB", "100MB", "0".
package fetch
