// Package modelsign signs and verifies model revisions in the OpenSSF model
// signing format of sigstore/model-transparency (the model_signing library,
// v1.x), so that signatures written by Cairn verify with `model_signing
// verify key|certificate` and signatures published with a model verify in
// Cairn.
//
// Sign(files, Signer, SignOptions) returns a bundle; Verify(bundle, files,
// VerifyOptions) checks it against trusted keys or roots and against the
// revision's file list, and returns who signed and what.
//
// What is checked: the bundle's media type; the DSSE signature over the PAE
// encoding of the payload with a trusted ECDSA (P-256/384/521, hash by curve)
// or ed25519 key, or with the key of an X.509 signing certificate that
// chains to a trusted root at VerifyOptions.Time (default now) and allows
// digital signature or code signing; the in-toto statement and predicate
// types; the subject's root digest against the resources; and that every
// revision file outside Ignore is signed with the same sha256 and every signed
// file is present (MismatchError names the differences). Bundles of
// model_signing v0.2 (predicate Digests/v0.1 and its mis-encoded PAE) verify
// too.
//
// What is not checked: transparency-log entries, inclusion proofs and signed
// timestamps of Sigstore keyless bundles (so a Fulcio certificate, valid ten
// minutes, verifies only if VerifyOptions.Time is set inside its validity and
// Roots hold the Fulcio root); certificate revocation; OIDC identity policy
// (the caller compares Result.Identities); shard serialisation and digests
// other than sha256. ed25519 bundles are a Cairn extension that model_signing
// v1.x refuses.
//
// Words:
//   - Bundle: a Sigstore bundle v0.3 (JSON) holding verification material
//     (a public key hint, or a certificate chain) and a DSSE envelope.
//   - DSSE envelope: a payload, its type and signatures over PAE(type, payload).
//   - PAE: "DSSEv1 <len type> <type> <len payload> <payload>", what is signed.
//   - Statement: the in-toto Statement v1 in the payload; its predicate
//     lists the resources and how the model was serialised.
//   - Resource: one signed file, its path, "sha256" and hex digest.
//   - Root digest: sha256 over the concatenated raw resource digests in the
//     listed order; the statement's single subject carries it.
//   - Key hint: hex sha256 of the public key's PEM, naming the key used.
package modelsign
