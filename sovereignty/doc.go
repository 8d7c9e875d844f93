// Package sovereignty decides who belongs to a Cairn network and where a
// repository's bytes may go, and keeps the proof. It is pure: no network I/O,
// no libp2p import (peer IDs are plain strings, keys plain ed25519). The p2p
// package (certificates at the handshake, revocation lists), home (trust,
// the policy file, the audit log), pull, provenance, replicate, node, hfapi
// and cli call it; ingest takes its import decision through a one-method
// interface that ImportGate implements.
//
// Words:
//
//   - Manifest signature: an organisation key's ed25519 signature over a
//     revision manifest's signing bytes (SignManifest); VerifyManifest
//     checks every one and says which are by the given publishers
//     (ErrProvenance when one does not verify, or none counts and one is
//     required).
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
//     Refusals, overrides, replications, repairs, exports, policy changes,
//     revocation lists and refused certificates are recorded there. A torn
//     last line is cut at open and recorded (KindTorn), never dropped
//     silently.
//   - Checkpoint: the node's signed statement (ed25519, its identity key
//     through a Signer) of its log's sequence number and head hash. Audit
//     appends one when asked (Checkpoint, RunCheckpoints every minute while
//     entries arrive) and keeps the latest beside the log
//     ("<log>.checkpoint"); members keep everyone's latest in a
//     CheckpointBook. The chain alone cannot show a cut tail or a chain
//     recomputed from an edit; checkpoints can: a signature no longer
//     matches the recomputed head, or a checkpoint held elsewhere names a
//     seq the log no longer reaches (VerifyAuditLog, VerifyAgainst).
//   - Final checkpoint: the one Close writes at a clean shutdown. Only a
//     signed checkpoint may follow it, so an entry appended while the node
//     was stopped is caught at the next open and by every verify; a writer
//     without the key gets ErrAuditSealed instead of appending.
//   - Unclean stop: a log whose last checkpoint is not final (crash, kill,
//     or a tail cut back to an older checkpoint); a signing writer records
//     it (KindUnclean) when it opens the log.
//   - Refusal, override: MayHold is the Hold decision for this node before
//     it takes a repo in (add, bundle import, mirror, pulls), a
//     *RefusedError naming the rule; ImportGate records the refusal, or an
//     operator's forced import as KindOverride (refused when it cannot be
//     recorded).
//   - Scan mode, licenses: a rule's gate on what comes in. scan: block (the
//     default) quarantines a revision with an unsafe file, block-unknown
//     also one with an unknown file, warn quarantines nothing and records
//     the findings. licenses lists the licences allowed (SPDX ids or the
//     Hub's names, compared as package licence's canonical ids); a
//     revision with another licence, or with none detected, is
//     quarantined. Left out: any licence. Admit decides from the
//     RevisionFacts (each file's scan verdict, the licences detected); a
//     repo no rule matches, or no policy, gets the defaults.
//   - Quarantine: a revision stored but never served, replicated or loaded,
//     with the reasons; recorded as KindQuarantine. Findings let through are
//     KindScanWarning.
//   - Release: an organisation-signed document (SignRelease, VerifyRelease)
//     naming one revision (kind, repo, commit), why and when, that lifts
//     its quarantine on every node trusting the organisation; recorded as
//     KindUnquarantine, a refused one as KindDeny.
package sovereignty
