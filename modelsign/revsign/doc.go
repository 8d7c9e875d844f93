// Package revsign applies OpenSSF model signing (package modelsign) to a
// revision in the block store: Sign writes a bundle over a manifest's
// files, Add commits a new revision carrying it as model.sig (through the
// compliance gate like any import), Verify checks a stored revision's
// model.sig against trusted keys and roots. Callers: package provenance
// (a daemon holds pulled and served revisions to provenance.signing_keys
// and signing_roots), config (loading those keys and roots) and cli (signing a stored model; checking a mirrored
// revision's model.sig).
//
// Words:
//   - model.sig: the Sigstore bundle file (modelsign.SignatureFile) in a
//     revision, over the sha256 digests of its other files; at most
//     MaxBundle bytes are read.
//   - Files: a manifest's files as modelsign signs them, path and sha256.
//   - Trust: the PEM public keys (LoadKeys) and root certificates
//     (LoadRoots) a bundle may verify against.
package revsign
