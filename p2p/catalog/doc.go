// Package catalog is the /cairn/catalog/1.0.0 protocol: a member asks a
// peer for the manifest a repo revision name points at.
//
// Words:
//   - Query: kind, repo and revision (a ref name or a commit).
//   - Answer: a status and either the manifest's canonical bytes or a
//     message saying why not (not found, refused by policy).
//   - full holder: a peer whose store holds the revision (status OK).
//   - partial holder: a peer fetching the revision (status Partial): it
//     holds the manifest and serves the blocks it has verified so far
//     over the fetch protocol, so it is a source too. Fetching is the
//     record of such revisions a node keeps (Partials); the store's
//     answer wins when it has the revision.
//
// The server asks the caller's policy gate before answering, full or
// partial alike, so a manifest (which names every file and digest) never
// reaches a peer the residency policy does not allow to receive the repo.
// The client decodes the answer with manifest.Decode, which validates
// every field, and checks that it is the repo it asked for. Ask returns
// the manifest of either kind of holder; AskFull also says which.
package catalog
