// Package repair is a node's repair worker and scrub: it takes the blocks
// the store found bad (on read, by a scrub, or marked before a restart),
// finds the revisions holding each (the store's index), asks the members
// holding those revisions, fetches the block verified and rewrites it.
// Every bad block and every repair is audited and counted.
//
// It depends on small interfaces declared here: Store (the store's
// BadBlocks, ReposOf, Refs, Repair and Scrub; *store.Store satisfies it),
// Finder (the members holding a revision, from the node's catalog
// queries), Fetcher (*fetch.Client's Blocks) and Auditor
// (*sovereignty.Audit). node builds one Worker per daemon and runs it.
//
// Words:
//   - Bad block: a stored block whose bytes do not match its CID; the
//     store marks it and reports it (Worker.Corrupt), and serves it to no
//     one until it is repaired.
//   - Repair: rewriting a bad block with bytes fetched from a member that
//     holds a revision containing it, verified against the CID
//     (Worker.RepairBlocks).
//   - Scrub: re-hashing every stored block at Config.ScrubRate every
//     Config.ScrubInterval, then repairing the bad ones (Worker.Scrub).
//   - Queue: the blocks reported bad, each once, waiting for the worker;
//     bounded (a full queue leaves blocks marked bad for the next retry,
//     every five minutes).
package repair
