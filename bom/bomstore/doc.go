// Package bomstore fills a bom.Input from a revision in the block store
// and builds its ML-BOM (Build): the files with sha256 and the compliance
// gate's per-file verdicts, the gate's check and quarantine, the model
// card, config.json and first GGUF header read from the stored bytes, the
// Cairn manifest signatures and a model.sig bundle (described, not
// verified), plus what the caller knows beyond the store (Sources: the
// holders and the upstream Hub). It lives apart from bom because it needs
// the store, the chunker and sovereignty, which bom (imported by licence
// and so by sovereignty) may not import. Callers: package node (the
// daemon's /api/models/{org}/{name}/bom) and cli (`cairn bom`).
//
// Words:
//   - Sources: what a BOM states beyond the store: the revision's holders
//     and the upstream Hub a mirrored revision came from.
//   - Upstream: the Hub's base URL; a revision the gate checked via
//     "mirror" names it with the repo and the check time.
package bomstore
