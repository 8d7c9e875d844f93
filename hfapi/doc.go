// Package hfapi serves a node's repositories over the Hugging Face Hub's
// HTTP protocol, so that unmodified clients (Python huggingface_hub and
// transformers, JavaScript @huggingface/hub and transformers.js) read from a
// Cairn node when HF_ENDPOINT (or hubUrl, env.remoteHost) points at it.
//
// Words:
//
//   - Pull-through: a Store (PullThrough) that on a miss has a Puller
//     bring the revision (a node pulls it from its members), one pull
//     shared by every request for it, answering its manifest as soon as
//     it is known and its blocks as they arrive.
//   - Route: what a request path names once parsed (ParsePath): an operation
//     (resolve, raw, info, tree, paths-info, refs, list, whoami), a kind
//     (model or dataset), a repo, a revision and a path inside the revision.
//     Paths are parsed from the escaped form (URL.EscapedPath) segment by
//     segment, because repo ids hold "/" and revisions may hold an encoded
//     one ("refs%2Fpr%2F1").
//   - Revision: a ref name or a 40-hex commit; "HEAD" means "main". An
//     unencoded "refs/X/Y" revision (as @huggingface/hub's listFiles sends
//     it) is taken as three segments.
//   - ETag: what the Hub reports for a file, quoted: the sha256 of the
//     content for an LFS file, its git blob id otherwise. ETag and
//     X-Linked-Etag carry the same value since no redirect is involved.
//   - Tree oid: the git tree id of a directory, computed as git does from the
//     blob ids of the files below it (mode 100644) and the tree ids of its
//     subdirectories, so it equals the Hub's when the blob ids do.
//   - Cursor: an opaque page position in a listing, carried by the absolute
//     URL of a Link: <…>; rel="next" header.
//   - Token: a bearer token from the node config. With no token configured
//     the API is open; otherwise every request needs one. A token bound to a
//     jurisdiction reads only repos the residency policy lets that
//     jurisdiction receive; others get 403 GatedRepo.
//
// Range requests: one range (bytes=a-b, a-, -n) gives 206; a range starting
// past the end, or a malformed one, gives 416 with Content-Range: bytes
// */size; several ranges are answered with the whole file (200), which RFC
// 9110 allows. Bodies are streamed from blocks a slice at a time, never
// buffered whole: a reader goroutine fills one 1 MiB slice from the blocks
// (chunker.Reader) while the previous one is written. A block missing
// mid-body cuts the connection, so no client takes a short body for a whole
// file.
//
// Paths: a "." or ".." element, a bad escape, a control byte or an invalid
// revision is a 400. Mounted on the daemon's http.ServeMux, a path with a
// literal ".." is redirected by the mux to its cleaned form before it gets
// here; an encoded one (%2E%2E) reaches ParsePath and is refused.
//
// Info documents carry every field whatever expand[] asks; lastModified and
// createdAt are the revision's creation time; downloads and likes are 0;
// _id is a stable 24-hex id derived from kind and repo.
package hfapi
