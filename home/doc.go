// Package home is a node's folder on disk (default ~/.cairn) and what
// lives in it besides the store: the libp2p identity, the membership
// certificate, the trusted organisation keys and revocation lists, the
// signed residency policy in force and the signed audit log. Init creates
// one; Load opens it; node.Node embeds the Home it runs, and cli reaches
// these files through it (org join, trust, policy, audit, compliance).
//
// Words:
//   - Home: the folder of one node: config.yaml (package config),
//     identity.key, the store folder, member.cert, trust/*.pub,
//     revocations/*.signed, policy.signed, audit.log, pins.json (the
//     replicator's) and models/ (materialised GGUF files).
//   - Identity: the node's ed25519 libp2p key; its peer ID names the node
//     in certificates, and it signs the audit log's checkpoints (AuditKey).
//   - Join: installing a certificate that names this node's peer ID and
//     trusting its organisation's key; nothing is written unless the
//     certificate verifies.
//   - Trust: the organisation keys the node trusts (its own and those it
//     federates with, TrustOrg) and the revocation lists it keeps.
//   - Own organisation: the organisation of the node's certificate; only
//     it sets the node's residency policy (OwnOrgTrust, PolicyEngine).
//   - Compliance: the gate, policy and audit log of a command run without
//     a daemon (OpenCompliance).
package home
