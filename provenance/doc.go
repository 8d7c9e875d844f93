// Package provenance holds manifests and the revisions they name to a
// node's provenance configuration (config.Provenance): a manifest may
// carry ed25519 signatures of publishers, and a revision may carry
// model.sig, an OpenSSF model-signing bundle over the sha256 digests of
// its other files. node's daemon asks a Checker before it serves a
// manifest to a peer (catalog protocol) and before it commits one pulled
// from a peer, and audits a refusal.
//
// Words:
//   - Publisher: a key whose manifest signatures count: provenance.
//     publishers, else the organisation keys the node trusts.
//   - require_signed: a manifest no publisher signed is refused, unless
//     its revision carries a model.sig; the bundle then stands for the
//     signature until its bytes are local, and must verify then.
//   - model.sig: verified against provenance.signing_keys and
//     signing_roots once the revision's bytes are in the store (Revision);
//     a publisher signature makes it unnecessary.
package provenance
