// Package ingest moves files between a folder on disk and the store: Add
// imports a folder (or one file) as a repo revision, Get writes a
// revision's files back out, Verify re-hashes what the store holds.
//
// Words:
//   - Revision, commit, manifest: as in package manifest.
//   - New bytes: bytes of blocks the store did not hold before an Add; the
//     deduplication figure of one import.
//   - Verified: a file whose whole-file sha256 equals the manifest's, and a
//     block whose bytes hash to its CID. Nothing is reported written or
//     complete before it is verified.
package ingest
