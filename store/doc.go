// Package store keeps Cairn's blocks, repo revisions, pins and the
// block → repo index in one badger v4 database.
//
// Words:
//   - Block: bytes named by a CID. Blocks are keyed by multihash, so a CIDv0
//     and a CIDv1 (dag-pb or raw) of the same bytes are one block; Get
//     returns it carrying the CID asked for. The store satisfies boxo's
//     blockstore.Blockstore and blockstore.Viewer.
//   - Manifest: one revision of a repo (package manifest), stored by
//     (kind, repo, commit) in its canonical encoding.
//   - Ref: a revision name (branch, tag, or a commit used as a name) of a
//     repo → the commit it points at, with the root CID and total size.
//   - Live revision: a manifest at least one ref points at. A manifest is
//     dropped when its last ref moves away or is deleted.
//   - Pin: a named hold on a DAG root. Commit pins each revision's root
//     under "rev:kind:org/name@commit"; Pin adds user pins.
//   - Index: block multihash → (kind, repo, commit) of every revision that
//     holds it, for residency checks (ReposOf).
//   - GC: deletes blocks unreachable from refs and pins, then lets badger
//     reclaim value-log space.
//
// # Key layout
//
// One prefix byte per record type; kinds, repos and commits never hold NUL
// (manifest.ValidateRepo), revision and pin names hold no control bytes,
// so NUL separates variable parts. Multihashes and CIDs are self-delimiting.
//
//	0x00 "version"                         → uint32 big endian layout version (1)
//	'b' mh                                 → block bytes
//	'm' kind 0x00 repo 0x00 commit         → canonical manifest
//	'r' kind 0x00 repo 0x00 revision       → JSON {commit, root, size, updated_ms}
//	'p' cidv1 name                         → empty (pin; CIDv0 normalised to v1 dag-pb)
//	'i' mh kind 0x00 repo 0x00 commit      → empty (index)
//
// # Atomicity and durability
//
// Every Put/PutMany, ref change and pin is one badger transaction or write
// batch: after kill -9 a block or a ref is wholly there or absent (tested
// by killing a child process mid-write). Commit writes the index entries
// first, in batches (a 4 GiB revision has ~16k blocks, more than one badger
// transaction may hold), then manifest, ref and root pin in one
// transaction. A crash in between leaves index entries of a revision that
// does not exist; ReposOf ignores entries without a live manifest and GC
// deletes them. SyncWrites is off by default: atomicity does not depend on
// it and writes survive a process crash, but the last ones may be lost on
// power failure; set Options.SyncWrites for durability against that.
//
// # GC and imports
//
// An import puts blocks before it commits them, so a GC between the two
// would delete them. Hold registers an import; GC waits until none is
// registered and holds off new ones while it runs. PutMany and Commit
// hold the store themselves for their own duration.
//
// # Memory and speed
//
// Blocks are 256 KiB–1 MiB, a few thousand per GiB, so badger is tuned for
// few, large values: every value of 1 KiB or more goes to the value log
// (written once, sequentially), and the LSM tree holds only keys and value
// pointers. Hence: no compression (weights and parquet do not compress,
// and it costs CPU at ~1 GB/s), no block cache (uncompressed tables are
// read through mmap; values never pass through it), index cache off
// (indexes of the tiny tables stay in memory), two 16 MiB memtables
// (enough for ~200k keys each; badger's default, five of 64 MiB, would
// alone cost 320 MiB), two compactors, and 128 MiB value-log files so
// value-log GC rewrites little at a time. The store's own memory thus stays
// under ~50 MiB whatever the import size; see the package benchmarks for
// throughput beside a plain file write and a sha256 pass.
package store
