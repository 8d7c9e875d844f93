// Package models is how a Cairn node names its GGUF models and finds them
// for the OpenAI server: Finder (an openai.Models) lists the GGUF files of
// the store's model revisions and locates one by id, pulling the revision
// from peers through a Puller (the node's daemon) when the store lacks it,
// then writing the file out of its blocks so that the engine can map it.
// node builds it; the inference router (inference/router) and the cli
// parse ids with ParseID.
//
// Words:
//   - Model id: ORG/NAME[@REV][/FILE.gguf]; REV defaults to main, FILE may
//     be left out when the revision holds one GGUF file.
//   - Materialised model: a GGUF file written out of the store into the
//     models folder as <sha256>.gguf, verified against the manifest's
//     sha256 before it is renamed into place.
//   - Stamp: the size, modification time and inode of a materialised file
//     recorded beside it (<sha256>.gguf.verified) after a full hash. A
//     file whose stamp does not match is hashed again at load, and
//     written anew when its sha256 no longer matches the manifest's.
//   - Flight: one pull or write shared by concurrent callers of the same
//     key, cancelled when every caller has gone.
//   - Prune: removing materialised files no model ref names any more.
package models
