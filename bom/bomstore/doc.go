// Package bomstore fills a bom.Input from a revision in the block store
// and builds its ML-BOM (Build): the files with sha256 and the compliance
// gate's per-file verdicts, the gate's check and quarantine, the model
// card, config.json and first GGUF header read from the stored bytes, the
// Cairn manifest signatures and a model.sig bundle (described, not
// verified), plus what the caller knows beyond the store (Sources: the
// holders and the upstream Hub). It lives apart from bom because it needs
// the store, the chunker and sovereignty, which bom (imported by licence
// and so by sovereignty) may not import. Handler serves it over HTTP
// under the API's keys and residency policy. Callers: package node (the
// daemon's /api/models/{org}/{name}/bom, through Handler) and cli (`cairn
// bom`).
//
// Words:
//   - Sources: what a BOM states beyond the store: the revision's holders
//     and the upstream Hub a mirrored revision came from.
//   - Handler: GET /api/models/{org}/{name}/bom[?revision=REV]: 401
//     without a key, 403 when the key's jurisdiction may not receive the
//     repo, 404 for a revision the store lacks.
//   - Upstream: the Hub's base URL; a revision the gate checked via
//     "mirror" names it with the repo and the check time.
package bomstore
