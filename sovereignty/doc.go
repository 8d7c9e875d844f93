// Package sovereignty decides who belongs to a Cairn network and where a
// repository's bytes may go, and keeps the proof. It is pure: no network I/O,
// no libp2p import (peer IDs are plain strings); the p2p, replicate, hfapi
// and mirror packages call it.
//
// Words:
//
//   - Organisation: the owner of a Cairn network, identified by an ed25519
//     key pair. The private key (GenerateOrgKey, WriteOrgKey) stays with the
//     operator, apart from nodes; its public key's text form is
//     "cairn-org:" + unpadded base64url (FormatOrgPublicKey).
//   - Certificate: a document signed by an organisation key that binds a
//     libp2p peer ID to the organisation and to a region, a jurisdiction
//     (ISO 3166-1 alpha-2 code), roles (mirror, edge, ...), a serial and a
//     validity period. Its encoding is canonical text (Issue,
//     ParseCertificate); signatures are domain-separated by the header line.
//   - Trust: the set of organisation keys a node accepts, with the
//     revocation list held for each (NewTrust, (*Trust).Verify).
//   - Member: a peer whose certificate verified against the trust at a given
//     time; the input of every policy decision.
//   - Revocation list: an organisation-signed, versioned, complete list of
//     revoked certificate serials. A newer version replaces an older one;
//     older or equal versions are refused with ErrStale, so gossip may
//     re-deliver lists safely.
//   - Policy: an organisation-signed YAML document (wrapped in a signed
//     envelope, SignPolicy) naming jurisdiction groups and an ordered list of
//     rules. The Engine holds the policy in force and keeps it when a
//     replacement is invalid, unsigned, untrusted or not newer.
//   - Rule: one entry of the policy's repos list: a glob over ORG/NAME ("*"
//     matches any run of characters including "/", "?" one character) and the
//     jurisdictions that may hold replicas, receive blocks or files, process
//     prompts, whether bundles may be exported, and the replicas wanted. The
//     first matching rule decides. A list names ISO codes, groups,
//     "region:NAME" (a certificate's region) or "*" (every jurisdiction); a
//     list left out grants nothing. hold must lie within receive.
//   - Decision: the answer of Engine.Decide for one action (Hold, Receive,
//     Prompts, ExportBundle) on one repo for one member: allow or deny, the
//     rule that decided and a human-readable reason. Without a policy every
//     member of a trusted organisation is allowed (rule "default"); with a
//     policy, a repo that no rule matches is denied.
//   - Audit log: an append-only JSON-lines file in which each entry carries
//     the sha256 of the previous entry, so editing, deleting or reordering
//     entries breaks the chain (VerifyAudit names the first broken line).
//     Refusals, replications, repairs, exports and policy changes are
//     recorded there.
package sovereignty
