// Package release carries signed quarantine releases between members over
// /cairn/release/1.0.0, so that a revision released on one node is not
// held in quarantine again by each node that pulls it. A node whose gate
// quarantines a revision it pulled asks the sources, in turn, for the
// release that lifted the quarantine there (Service.Ask) and applies it
// when it verifies under its own trust (package gate decides that). A
// node answers only members its residency policy lets receive the repo,
// and only for revisions it holds released. New takes the node's
// membership-gated libp2p host and registers the handler; the store, the
// policy and the membership view come in through small interfaces. One
// request/answer is one bounded exchange (p2p/rpc). Caller: package node.
//
// Words:
//   - Release: a signed statement by an organisation key that lifts the
//     quarantine of one revision (sovereignty.ParseRelease); at most
//     sovereignty.MaxReleaseSize bytes on the wire.
//   - Request: "KIND REPO COMMIT"; the answer is the signed release, or
//     nothing when the node holds none (or may not tell this member).
package release
