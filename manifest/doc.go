// Package manifest describes one revision of a repository: which files it
// holds, their sizes and digests, and the content address of each.
//
// Words:
//   - Repo: "org/name", a Hugging Face repository id. Kind says whether it is
//     a model or a dataset; the two live in separate namespaces.
//   - Revision: a name a client asks for (a branch such as "main", a tag, or
//     a 40-hex commit). Refs map revision names to commits; a manifest does
//     not carry the name, so one manifest serves every name that points at it.
//   - Commit: 40 hex digits naming a manifest. Upstream's git commit when the
//     revision was mirrored; otherwise derived from the manifest's content
//     (DeriveCommit), so adding the same files twice gives the same commit.
//   - File: one path in the revision with its size, sha256, git blob id (what
//     the Hub reports as blobId/oid), whether it is stored as LFS upstream,
//     and the CID of its UnixFS DAG.
//   - Root: the CID of the UnixFS directory holding every file.
//   - Canonical encoding: compact JSON with fixed field order and files
//     sorted by path. Decode accepts only canonical bytes, so a manifest has
//     exactly one encoding and signatures cover exactly what is stored.
//
// This package does no I/O beyond the bytes it is handed.
package manifest
