// Package mirror brings repos into a node from outside the peer-to-peer
// network: from an upstream Hugging Face Hub (Mirror), and across an air gap
// in CAR files (Export, Import).
//
// Words:
//   - Upstream: the Hub endpoint of the node's config (upstream.endpoint,
//     default https://huggingface.co). It is the only host Mirror contacts.
//   - Spool: a folder under the node's home holding each file of a mirror in
//     progress: NAME.part while it downloads, NAME.done (a small JSON
//     journal: CID, size, digests) once it is imported and checked. A spool
//     is removed when its revision is committed.
//   - Bundle: a CARv2 file of one or more revisions: their blocks and their
//     manifests, with an index block naming them.
//   - Incremental bundle: a bundle made --since revisions the receiving site
//     holds; their blocks are left out.
//   - Gate: Options.Gate and ImportOptions.Gate check each revision once its
//     blocks are stored and verified, before its refs are committed: the
//     files are scanned back through the store (pickle members and
//     headers only), the licences detected, the verdict recorded, and a
//     revision breaking the policy's scan or licenses rule is committed
//     quarantined (Result.Check, ImportedRev.Quarantined).
//
// # Mirroring
//
// Mirror asks GET /api/{models|datasets}/{repo}/revision/{rev} for the
// commit id and lastModified, lists the files of that commit with GET
// /api/.../tree/{commit}?recursive=true (following Link: rel="next" pages,
// which must stay on the endpoint), and downloads each file from
// /{repo}/resolve/{commit}/{path} (/datasets/{repo}/resolve/... for
// datasets): by commit, so that every file comes from one revision even if
// the branch moves meanwhile. A few files download at once (Workers, 4).
// Each file is spooled to disk, then cut by chunker.ImportFile from the
// spool file (memory stays bounded whatever the file size), and checked:
// an LFS file's sha256 against the tree's lfs.oid, another file's git blob
// id against its oid. A mismatch fails the mirror with ErrDigest and
// nothing is committed. The manifest keeps the upstream's commit id and
// lastModified (as Created) and its oids as blob ids; the revision is
// committed under the requested name and under the commit id.
//
// Requests that fail with 5xx, 408, 429 or a connection error (a body cut
// short included) are retried up to Retries times (5) after an exponential
// backoff with jitter (Backoff, 500 ms, doubling up to 30 s). A download
// that stopped resumes with Range: bytes=N- from the N bytes spooled; an
// answer of 200 instead of 206 restarts the file. Files already stored whole
// are not downloaded again: one of a stored revision of the repo with the
// same sha256 (LFS) or blob id and size, or one a failed earlier run
// imported (its .done journal), provided every block of its DAG is in the
// store.
//
// The store is held (store.Hold) from the first download to the commit, so
// GC never deletes blocks imported but not yet referenced.
//
// 401 and 403 are ErrGated (set upstream.token; it is sent as a bearer
// token); 404 is ErrNotFound. With upstream.offline Mirror fails with
// ErrOffline before any dial.
//
// Redirects are followed only within the endpoint's scheme and host (the
// Hub redirects renamed repos that way); a redirect to any other host is
// refused with ErrRedirect, because a node contacts only the hosts it is
// configured with. The real Hub serves LFS files by redirecting to a CDN
// host (cdn-lfs.hf.co and the like): mirroring such files from
// huggingface.co itself needs a mirror endpoint that serves them directly,
// or a future option listing allowed CDN hosts. No proxy from the
// environment is used, for the same reason.
//
// # Bundle layout
//
// A bundle is a CARv2 file (pragma, header, CARv1 payload, then a
// multihash-sorted index: go-car's CarMultihashIndexSorted), so Kubo's
// `ipfs dag import` and go-car read it as it is. The CARv1 roots are the
// root directory CID of each revision, then the index block's CID last.
// Sections come in this order:
//
//  1. the index block: dag-json (codec 0x0129),
//     {"format": "cairn-bundle/1", "blocks": N, "bytes": B,
//     "revisions": [{"type", "repo", "revision", "commit",
//     "root": {"/": CID}, "manifest": {"/": CID}, "release"?}],
//     "since": [{"type", "repo", "commit", "root": "CID as a string"}]},
//     where N and B count the data blocks and their bytes, and "release"
//     (only when there is one) is the signed release document
//     (sovereignty.Release) of a revision whose quarantine was lifted; a
//     revision still quarantined is not exported (ErrQuarantined);
//  2. each manifest, once, as a raw block of its canonical encoding
//     (package manifest), linked from the index;
//  3. the data blocks: each revision's DAG depth first, every parent
//     before its children, children in link order, each block once across
//     the bundle, minus the blocks of the --since revisions. A file's leaves
//     thus come in the file's byte order.
//
// Kubo pins the roots on import (pinning the index pins every manifest and
// revision). An incremental bundle holds incomplete DAGs on purpose: Kubo
// imports its blocks but needs --pin-roots=false unless it holds the base
// revision.
//
// Export knows every section's size before it writes (block sizes come from
// the store), so it writes the CARv2 header first and streams to any
// io.Writer, reading blocks through store.View without copying.
//
// # Import checks
//
// Import streams the file once and holds at most a few blocks in memory.
// The index block must come first and be the last root; each manifest must
// decode and match its index entry; every block must hash (sha2-256, the
// only function accepted) to its CID; the number of data blocks and their
// bytes must match the index, the CARv2 header's data size must match what
// was read, and the CARv2 index that follows must be exactly the one the
// sections read make (it is rebuilt and compared, never parsed), so a
// bundle cut, extended or altered anywhere is refused. A CARv1 file is not
// a Cairn bundle. Section lengths are untrusted: buffers grow with the
// bytes that arrive, data blocks go into pooled 1 MiB buffers. Blocks go into the store as
// they arrive, under store.Hold, invisible until a ref names them. While
// they stream, the whole-file sha256 of every file whose blocks arrive in
// order is computed on the fly; the others (a block shared by two places in
// the bundle, or left out of an incremental bundle) are read back from the
// store and hashed. Each revision's DAG must be complete in the store.
// Only then are the refs committed. Every refusal is ErrBundle and names the
// block, file or count at fault; a refused bundle leaves every ref as it
// was (its stored blocks go at the next GC). In the code each check is a
// step of the importer (open, readIndex, readManifests, streamBlocks,
// checkCounts, checkCARIndex, checkComplete, checkFiles, then commit), and
// Export's are the exporter's (plan, index, layout, write).
//
// # Figures
//
// go test ./mirror -run '^$' -bench Bundle -benchtime 2x prints MB/s beside
// a sha256 pass over the same bundle bytes in the same run (sha256-MB/s)
// and their ratio (x-sha256). For import also: add-MB/s, cairn add of the
// same repo timed under the same conditions just before each import (new
// store, sync(2) first), and x-add, import over add; sys-s/op and
// add-sys-s/op, the process's system CPU seconds of each; store-busy, the
// putters' time in the store's writes over the import's time (2.0 = both
// always waiting on the store). CAIRN_BENCH_SIZE=1G for a 1 GiB repo.
//
// Both ends used to be bound by writing new bytes into page-cache pages,
// which on these VMs (Firecracker, virtio-balloon: freed memory goes back
// to the host within seconds) cost 1.7-2.7 s of system time per GiB: the
// store's value log on import, the bundle file on export. The store now
// writes block bodies with direct I/O (store/doc.go, "Pack files") and
// ExportFile writes the bundle the same way (package direct).
//
// Export reads blocks with store.ViewOnce: from the page cache when it
// holds them, else past it with direct I/O, so exporting a cold repo costs
// little CPU and evicts nothing, and is bound by the disk. The benchmark
// therefore runs twice: cold (the store just written) with a disk
// reference beside it (the bundle's bytes copied with direct I/O on the
// same disk: the most a cold export can do), and warm (the repo read once
// through the page cache).
//
// Measured 2026-11-26 (1 GiB, 2 runs each, load ~1 on the 2-core VM):
// export warm 1110-1380 MB/s, 0.74-0.91x sha256; cold 510-690 MB/s,
// 0.34-0.46x sha256, 0.74x the disk copy's 935 MB/s; import 966-1046 MB/s,
// 0.63-0.69x sha256, at the speed of cairn add under the same conditions
// (x-add 0.95-1.02), 0.2 s of system time per GiB. Before the pack files:
// export 0.44x, import 0.23-0.28x.
package mirror
