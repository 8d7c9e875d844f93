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
// One stream per peer carries a pipeline of requests; the transport's flow
// control paces the blocks (no per-block round trips). Every block is
// hashed on arrival and compared with its CID; a peer that sends a bad
// block is dropped for the rest of the fetch and its work goes to others.
// Blocks already in the local store are never requested, so a fetch that
// was interrupted resumes where it stopped.
package fetch
