// Package policysync floods an organisation's signed residency policy over
// /cairn/policy/1.0.0: a node pushes the policy in force to each member
// that joins (Run) and to every member after a local change (Broadcast);
// a receiver applies it only when it verifies and is newer, so the newest
// policy reaches every node without consensus. It takes the node's
// membership-gated libp2p host and registers its own handler (New); the
// policy engine and the membership view come in through the small Policy
// and Members interfaces. One push is one bounded message (p2p/rpc).
// Caller: package node (Daemon.PolicySync, SetPolicy).
//
// Revocation lists do not travel here: they stay in the member hello of
// package p2p, because they decide membership itself. They are exchanged
// in the hello's round trip, before the peer is admitted and before any
// protocol (this one included) may run; a separate exchange after joining
// would leave a window in which a peer revoked by a list only one side
// holds is a member, and p2p must re-verify its members as soon as a list
// is installed.
//
// Words:
//   - Signed policy: the envelope sovereignty.SignPolicy makes: a YAML
//     policy, its version and the organisation's signature.
//   - Newer: of a greater version than the policy in force; an older or
//     equal one is refused as sovereignty.ErrStale and not logged as an
//     error (every member re-pushes the same policy on join).
//   - Push: one stream carrying one signed policy, closed after it.
package policysync
