// Package store keeps Cairn's blocks, repo revisions, pins and the
// block → repo index in one badger v4 database, and the bodies of large
// blocks in pack files beside it.
//
// Words:
//   - Block: bytes named by a CID. Blocks are keyed by multihash, so a CIDv0
//     and a CIDv1 (dag-pb or raw) of the same bytes are one block; Get
//     returns it carrying the CID asked for. The store satisfies boxo's
//     blockstore.Blockstore and blockstore.Viewer. Put trusts the CID it is
//     given (the chunker has just hashed the bytes, bitswap verifies what
//     peers send); HashOnRead re-hashes on every read.
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
//   - GC: deletes blocks unreachable from refs and pins, deletes stale
//     index entries, then has badger give the space back to the disk.
//   - Hold: an import's claim that keeps GC from running between its first
//     Put and its Commit.
//   - Check, quarantine: the compliance records of a revision, kept by
//     (kind, repo, commit) apart from its manifest and outliving it (a
//     commit re-imported finds its quarantine and release again). A
//     quarantine is in force until a release document is stored with it.
//   - Pack: an append-only file (packs/NNNNNNNN.pack) holding the bodies of
//     blocks of at least 16 KiB back to back; badger keeps where each is.
//
// # Lock order
//
// Every operation takes the store's locks in one order: the guard against
// Close, then the GC gate (a hold, or GC's exclusive turn), then the
// value-log mapping lock shared. Operations that write, iterate or collect
// take them through readOp, writeOp or gcOp (store.go); plain block reads
// need only the first; Hold, the mapping release after writes and the
// block listing take those they need, in the same order.
//
// # Key layout
//
// One prefix byte per record type; kinds, repos and commits never hold NUL
// (manifest.ValidateRepo), revision and pin names hold no control bytes,
// so NUL separates variable parts. Multihashes and CIDs are self-delimiting,
// so a multihash prefix never matches another multihash's keys.
//
//	0x00 "version"                         → uint32 big endian layout version (2);
//	                                         Open upgrades 1 in place, refuses others
//	'b' mh                                 → block bytes, or with UserMeta 1 (packed)
//	                                         pack id u32, offset u64, length u32
//	                                         (big endian)
//	'm' kind 0x00 repo 0x00 commit         → canonical manifest
//	'r' kind 0x00 repo 0x00 revision       → JSON {commit, root, size, updated_ms}
//	'p' cidv1 name                         → empty (pin; CIDv0 normalised to v1 dag-pb)
//	'i' mh kind 0x00 repo 0x00 commit      → empty (index: block → kind:repo@commit)
//	'c' kind 0x00 repo 0x00 commit         → JSON Check (scan results, licences)
//	'q' kind 0x00 repo 0x00 commit         → JSON Quarantine (reasons, signed release)
//
// # Revisions
//
// Commit walks the revision's DAG from its root and from each file's CID
// (dag-pb links; raw leaves are checked by key, never read) and refuses the
// revision with ErrMissingBlocks, naming the first missing block, if any
// block is absent. A manifest lives while a ref points at it: moving or
// deleting a revision's last ref drops its manifest and root pin (its
// blocks go at the next GC), so Resolve by commit finds only live commits.
// Resolve and Manifest tell ErrRepoNotFound (no ref of the repo) from
// ErrRevisionNotFound (the repo exists, the name or commit does not).
//
// # Atomicity and durability
//
// Every Put/PutMany, ref change and pin is one badger transaction or write
// batch: after kill -9 a block or a ref is wholly there or absent (tested
// by killing a child process mid-write, then re-hashing everything). A
// packed block's bytes are written to its pack before the badger batch
// that names them, so an entry never points at bytes not yet written; a
// crash in between leaves bytes no entry names, which GC gives back. Commit
// writes the index entries first, in batches (a 4 GiB revision has ~16k
// blocks; a badger transaction holds a few thousand entries), then the
// manifest, ref and root pin in one transaction. A crash in between leaves
// index entries of a revision that does not exist: ReposOf tolerates them
// explicitly (it reports a repo only if the entry's manifest is live) and
// GC deletes them. SyncWrites is off by default: atomicity does not depend
// on it and writes survive a process crash (direct writes are on the
// device, badger's in the page cache, which outlives the process), but the
// last writes may be lost on power failure; set Options.SyncWrites for
// durability against that (packs are then fsynced before the entries are
// written), at a large cost in speed.
//
// # GC
//
// GC waits until no import holds the store (see Hold; PutMany, Commit,
// DeleteRef, DeleteBlock, Pin and Unpin hold it for their own duration)
// and keeps new ones waiting while it marks every block reachable from the
// refs' roots and the pins (walking dag-pb links; other codecs count as
// leaves), deletes the rest, deletes index entries without a live
// manifest, and then reclaims disk: badger learns which value-log bytes
// are dead only when it compacts the LSM tree, so GC flushes the memtables
// (DropPrefix of a key written for the purpose), compacts the tree into
// one level (Flatten), and runs value-log GC in a bounded loop until no
// file has half its bytes dead. The value-log file being written is never
// rewritten, so up to ValueLogFileSize (1.5 GiB) of garbage can remain
// until imports fill that file. The mark phase keeps 64-bit hashes of live
// multihashes (~20 bytes per block) and the sweep deletes as it scans, so
// GC of a million-block store needs some tens of MiB.
//
// # Stat
//
// Blocks and BlockBytes come from a key-only scan: no block is read, sizes
// come from badger's value pointers (exact; see valueSize) or, for packed
// blocks, from the 16-byte location kept in the LSM tree. It costs about
// 1 µs per block (BenchmarkStat), about a second for a 1 TB store of 1 MiB
// blocks; counters kept in every write would need every PutMany to
// serialise on one key. RepoBytes sums file sizes over the distinct
// commits refs point at (a commit named by main and v1.0 counts once);
// Revisions counts refs, Commits distinct commits. DiskBytes walks the
// store's directory and sums what its files take on disk (allocated
// blocks, so badger's sparse files and the packs' punched holes count
// only what they hold).
//
// # Pack files
//
// Imports and fetches write new bytes at 1–2 GB/s, and nobody reads most
// of them back soon. Through the page cache (badger's value log is an
// mmapped file) each new byte needs a fresh page, and on the VMs Cairn is
// measured on placing fresh pages costs 1.7–2.7 s of kernel time per GiB
// (the hypervisor takes freed memory back within seconds): more than the
// two sha256 passes an import needs. Written with direct I/O, in 4 MiB
// writes, the same GiB costs 0.06 s of CPU and the disk takes it at
// ~2.4 GB/s (package direct). So blocks of at least 16 KiB (every chunk but
// a file's last: the chunker's smallest CDC chunk is 64 KiB) go to packs;
// smaller blocks, dag-pb nodes and manifests stay in badger.
//
// One writer appends to the newest pack (a new one at 4 GiB); each PutMany
// writes its blocks back to back and ends padded to a page (≤ 4 KiB per
// call; PutMany batches are MiBs), so a page once written never changes
// and readers never meet a page being rewritten. Reads go through the page
// cache (pread into a pooled buffer, or straight into the buffer Get
// returns, or the caller's own with ReadInto, which bulk readers reuse so
// that a GiB read allocates next to nothing): a mirror serving a model many times, or an edge node loading
// one, reads it from memory after the first time. ViewOnce is for streams
// that read a block once (the fetch server, bundle export; ReadOnce hands
// the block over in the buffer it was read into, for a stream that sends
// it from there; ReadOnceUnchecked and ReadIntoUnchecked leave the hash
// check to a caller that checks two blocks at once and reports a mismatch
// with Corrupt): it asks the
// kernel whether the page cache holds the block (cachestat, which unlike a
// RWF_NOWAIT read starts no readahead) and reads it past the cache with
// direct I/O when not, so a mirror streaming what it just replicated pays
// next to no CPU for it (a one-peer fetch from a cold source, sender and
// receiver in one process: 4.1-4.5 CPU passes against 5.6-7.1 reading it
// through the page cache). A RWF_NOWAIT read was tried as the question and
// dropped: it starts readahead, which fills the cache anyway. Opening a store
// appends after the newest pack's end.
//
// # Memory and speed
//
// Measured 2026-11-26 on a 2-core VM (bench storeput, bench import,
// p2p/fetch and mirror benchmarks), pack writes against badger's value log
// before them: PutMany of 1 GiB of new 1 MiB blocks 1.4–2.4 GB/s (was
// 0.4–1.6, varying with how warm the VM's memory was); importing a 1 GiB
// safetensors file 2.05–2.2 sha256 passes of CPU (was 2.4–4.5), 0.63–0.75×
// a sha256 pass in wall time; a one-peer fetch 0.3–0.37× (was 0.18–0.32×);
// a bundle import 0.63–0.69× (was 0.23–0.28×).
//
// Badger is tuned for keys and small values: values of 1 KiB or more go to
// its value log, the LSM tree holds keys, value pointers and pack
// locations (~60 bytes per block). No compression (weights and parquet do
// not compress, and it costs CPU at ~1 GB/s); no block cache (uncompressed
// tables are read through mmap); no index cache (table indexes are tiny
// and stay in memory); two 16 MiB memtables (~200k keys each; badger's
// default of five 64 MiB ones would alone cost 320 MiB); two compactors.
// PutMany skips blocks already stored, so dedup saves the write too.
//
// Badger msyncs a whole value-log file whenever it moves on to the next
// one and all writes wait for it, so value-log files are 1.5 GiB: since
// packs took the large values, a file lasts a long time.
//
// Badger keeps every value-log file mmapped and writes values by copying
// them into the mapping, so every byte written or read through it would
// stay in the process's resident set until the kernel is short of memory.
// On Linux the store therefore drops its mappings' pages after every
// 64 MiB written or read (madvise MADV_DONTNEED on the MAP_SHARED
// value-log mappings found in /proc/self/maps: the data stays in the page
// cache, dirty pages included, and the next access maps it again). mapMu
// makes this safe against badger unmapping or remapping a file at the
// same moment. With packs, only small blocks and manifests pass there.
//
// A full disk is refused, not met: badger writes through mmapped sparse
// files, and a page it cannot place kills the process with SIGBUS, so
// PutMany and Commit fail with ErrDiskFull (changing nothing) when the
// write would leave less than Options.MinFreeBytes (256 MiB) free, and GC
// stops rewriting value-log files when a rewrite might not fit.
//
// InMemory stores are badger on a private temporary directory (under
// /dev/shm when it exists): badger v4.9.6's own InMemory mode panics on
// values of 1 MiB, the chunker's largest block.
package store
