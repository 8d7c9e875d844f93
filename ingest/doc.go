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
//   - Imported tree: the folder given to Add, symlinks resolved. A symlink
//     inside it that stays inside is followed (a linked file is imported as
//     its target's bytes, a linked folder is walked), as Hugging Face and
//     git-annex layouts need. One that leaves it is refused and a linked
//     folder outside is not walked, unless FollowSymlinks: a link to
//     /etc/passwd or to a key file must not be imported, served and
//     replicated by accident. Every refused path is named in one error
//     (ErrLeavesTree). A file is opened only if it is still the one
//     collected, so a path swapped for a link meanwhile is refused.
//   - Special file: a device, socket or named pipe; always refused
//     (ErrSpecialFile): a pipe would block the import, a device never end.
//   - Policy: AddOptions.Policy is asked whether this node may hold the
//     repo before any file is read; its refusal ends the import.
//   - Gate: AddOptions.Gate scans each file right after importing it, from
//     the same open file (pickle streams and headers only), then records
//     the verdict before the commit; a revision breaking the policy's scan
//     or licenses rule is committed quarantined (AddResult.Check).
package ingest
