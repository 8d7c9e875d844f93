// Package store keeps Cairn's blocks, repo revisions, pins and the
// block → repo index in one badger v4 database.
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
//
// # Key layout
//
// One prefix byte per record type; kinds, repos and commits never hold NUL
// (manifest.ValidateRepo), revision and pin names hold no control bytes,
// so NUL separates variable parts. Multihashes and CIDs are self-delimiting,
// so a multihash prefix never matches another multihash's keys.
//
//	0x00 "version"                         → uint32 big endian layout version (1);
//	                                         Open refuses any other
//	'b' mh                                 → block bytes
//	'm' kind 0x00 repo 0x00 commit         → canonical manifest
//	'r' kind 0x00 repo 0x00 revision       → JSON {commit, root, size, updated_ms}
//	'p' cidv1 name                         → empty (pin; CIDv0 normalised to v1 dag-pb)
//	'i' mh kind 0x00 repo 0x00 commit      → empty (index: block → kind:repo@commit)
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
// by killing a child process mid-write, then re-hashing everything). Commit
// writes the index entries first, in batches (a 4 GiB revision has ~16k
// blocks; a badger transaction holds a few thousand entries), then the
// manifest, ref and root pin in one transaction. A crash in between leaves
// index entries of a revision that does not exist: ReposOf tolerates them
// explicitly (it reports a repo only if the entry's manifest is live) and
// GC deletes them. SyncWrites is off by default: atomicity does not depend
// on it and writes survive a process crash (the page cache outlives the
// process), but the last writes may be lost on power failure; set
// Options.SyncWrites for durability against that, at a large cost in speed.
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
// Blocks and BlockBytes come from a key-only scan: no value is read, sizes
// come from badger's value pointers (exact; see valueSize). It costs about
// 1 µs per block (BenchmarkStat), about a second for a 1 TB store of 1 MiB
// blocks; counters kept in every write would need every PutMany to
// serialise on one key. RepoBytes sums file sizes over the distinct
// commits refs point at (a commit named by main and v1.0 counts once);
// Revisions counts refs, Commits distinct commits.
//
// # Memory and speed
//
// Blocks are 256 KiB–1 MiB, a few thousand per GiB, so badger is tuned for
// few, large values: every value of 1 KiB or more goes to the value log
// (written once, sequentially) and the LSM tree holds only keys and value
// pointers (~60 bytes per block). Hence: no compression (weights and
// parquet do not compress, and it costs CPU at ~1 GB/s); no block cache
// (uncompressed tables are read through mmap, values never pass through
// it); no index cache (table indexes are tiny and stay in memory); two
// 16 MiB memtables (~200k keys each; badger's default of five 64 MiB ones
// would alone cost 320 MiB); two compactors. Writes go through badger
// write batches; PutMany skips blocks already stored, so dedup saves the
// write too.
//
// Badger msyncs a whole value-log file whenever it moves on to the next
// one (whatever SyncWrites says), and all writes wait for it: an import
// crossing a file boundary waits for the disk. Value-log files are
// therefore 1.5 GiB (a 1 GiB import into a new store measured 1.1–1.8 GB/s
// with them, 0.3–0.75 GB/s with 128 MiB files, on a loaded 2-core machine
// whose disk takes ~0.6 GB/s). Starting write-out early (sync_file_range
// every 64 MiB) was tried and dropped: it made 1 GiB imports wait for a
// busy disk (0.4–1.6 GB/s against 1.6–2.4 without) and did not measurably
// speed up 4 GiB ones. Sustained imports beyond the page cache's dirty
// limit run at disk speed whatever the store does. The cost of large files: GC leaves up to
// one file's worth of garbage in the file being written.
//
// Badger keeps every value-log file mmapped and writes values by copying
// them into the mapping, so every byte imported or read would stay in the
// process's resident set (a 4 GiB import = 4 GiB RSS) until the kernel is
// short of memory. On Linux the store therefore drops its mappings' pages
// after every 64 MiB written or read (madvise MADV_DONTNEED on the
// MAP_SHARED value-log mappings found in /proc/self/maps: the data stays in
// the page cache, dirty pages included, and the next access maps it again).
// mapMu makes this safe against badger unmapping or remapping a file at
// the same moment. Measured (BenchmarkImportRSS, 4 GiB of 1 MiB blocks):
// peak RSS ~110 MiB for the whole test process, ~30 MiB of it anonymous.
//
// What an import costs (bench import, 1 GiB safetensors, 2026-11-26, in
// crypto/sha256 passes of CPU over the same bytes): the chunker alone
// (blocks dropped) 1.8–1.9 passes, its two hashes; with this store
// 2.4–2.7 passes on a quiet moment, up to 5 under heavy load. Nearly all
// of the difference is system time the kernel spends placing the new bytes
// in fresh page-cache pages (a profile puts it in badger's copy into the
// mapping); the store's own user time (badger's entry encoding, CRC,
// memtable) is about 0.1–0.2 s per GiB. Writing the same bytes with pwrite
// into a new file costs the same system time (0.2–1.6 s per GiB on these
// VMs, varying with the host: first-touch of fresh memory alone costs
// 0.4–1.2 s per GiB here), so moving block bodies out of badger into pack
// files written with pwrite would not make imports cheaper; it was
// measured, not built.
//
// Page placement is overlapped with badger's copy: a goroutine
// (prefaulter, Linux) write-faults the 32 MiB of the newest value-log
// file's mapping just ahead of the writer with MADV_POPULATE_WRITE, which
// allocates, zeroes and maps the pages (and reserves their disk blocks)
// without changing a byte; the writer then copies into pages already
// there. It does not lower the CPU an import needs when the machine is
// CPU-bound, yet it measured less system time too (populating 2 MiB per
// call rather than faulting page by page in the writer). Measured 2026-11-26 on a
// loaded 2-core VM (load 2.5–5, other sessions busy), runs interleaved
// with the previous build: store PutMany alone (bench storeput, 1 GiB,
// 10 s idle before each run so pages are "cold") 0.61–1.57 GB/s against
// 0.41–0.55, system CPU 0.8–1.9 s against 1.9–2.2 s; p2p/fetch
// BenchmarkFetch 1src-tcp (1 GiB) 0.18–0.32× sha256, median 0.22 of 8,
// against 0.15–0.23×, median 0.17 of 8 (the process's system CPU 4.5 s
// against 5.6 s on average); bench import 1 GiB median ratio 0.39 of 15
// runs against 0.33; mirror BenchmarkBundleImport 0.14–0.29× either way.
// It costs ~20 MiB of peak RSS (4 GiB import: 251 MiB against 243).
// Tried and dropped: readahead of the file's holes ahead of the writer
// (fadvise WILLNEED places clean zero pages that the writer still faults
// on one by one): it doubled PutMany's system time.
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
