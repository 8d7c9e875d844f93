// Package catalog is the /cairn/catalog/1.0.0 protocol: a member asks a
// peer for the manifest a repo revision name points at.
//
// Words:
//   - Query: kind, repo and revision (a ref name or a commit).
//   - Answer: a status and either the manifest's canonical bytes or a
//     message saying why not (not found, refused by policy).
//
// The server asks the caller's policy gate before answering, so a manifest
// (which names every file and digest) never reaches a peer the residency
// policy does not allow to receive the repo. The client decodes the answer
// with manifest.Decode, which validates every field, and checks that it is
// the repo it asked for.
package catalog
