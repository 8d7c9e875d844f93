// Package gossip is Cairn's control plane: the state every node needs
// (policy, revocation lists, certificate renewals, pin intents, holdings,
// model adverts, audit checkpoints) travels over GossipSub
// (go-libp2p-pubsub), validated at every hop before it is relayed, so no node
// needs a connection to every other. A node that joins late asks one
// neighbour for the current state. ConnManager and Protect keep the number of
// connections bounded without dropping relays or transfers.
//
// Words:
//   - topic family: the topics of one organisation, /cairn/<org>/<kind> for
//     the kinds policy, revocations, certs, pins, holdings, adverts, audit.
//     A node joins its own organisation's family; peers cannot make it track
//     other topics (subscription allowlist).
//   - envelope: the data of every message: format version, kind, the author's
//     certificate, the kind's body. Messages are signed by the author's node
//     key (pubsub StrictSign); the certificate proves the author is a member
//     to nodes that are not connected to it.
//   - forwarder, author: the peer a message came from, and the node that
//     published (and signed) it.
//   - origin: what a version counts for. A policy's or a revocation list's
//     signing organisation; an intent's key; the author for certificates,
//     holdings, adverts and audit checkpoints.
//   - validator verdicts: every message passes, before it is relayed or
//     delivered: the kind's size limit, the forwarder is a connected member,
//     the envelope decodes, the author's certificate verifies for the signing
//     peer, the body decodes (organisation-signed documents verify), its
//     version is newer than the one held for its origin. Accept: relayed and
//     delivered. Reject (too large, non-member, malformed, forged): dropped,
//     and the forwarder's score pays InvalidWeight·n². Ignore (stale version,
//     author revoked or expired where the forwarder may not know yet, origin
//     table full): dropped without penalty.
//   - score thresholds: peer scores (pubsub peer scoring) below
//     GossipThreshold get no gossip, below PublishThreshold none of this
//     node's messages, below GraylistThreshold all their messages are
//     dropped unread. Scores are kept an hour after a peer disconnects.
//   - state: the latest accepted message of every origin of every kind but
//     audit, kept as the signed pubsub message, answered to catch-up and
//     queried with Holdings, Holders, Adverts, Intents.
//   - catch-up: on /cairn/gossip-state/1.0.0, a node that connects while it
//     has not caught up (after start, or after losing every connection) asks
//     that one neighbour for its state. Each message in the answer passes the
//     same validator, plus the author's signature check pubsub would have
//     done; accepted ones reach the handlers and are not relayed.
//   - certificate cache: an author's certificate, once verified, is taken
//     as verified for a minute (never past its expiry); an accepted
//     revocation list clears the cache, and so does ForgetCertificates,
//     which the node calls when its trust set changes otherwise.
//   - simulation: Simulate runs the same code on go-libp2p's mock network
//     (a ring plus random chords, fixed link latency) and measures how long
//     a policy change, and a round of holdings summaries, take to reach
//     every node and what each node sends (`go run ./bench gossip` prints
//     it). It runs in a testing/synctest bubble: the clock moves only when
//     every goroutine of the simulation waits (on the mock network's
//     channels, the links' latency timers, pubsub's heartbeats), so the
//     times are simulated and this machine's CPU does not count; Wall is
//     the real time it took. A bubble needs a *testing.T, hence
//     Simulate(t, …): a test calls it directly, and the bench command runs
//     it as a test through testing.Main, the entry the testing package
//     keeps for programs that run tests themselves. Nothing in the bubble
//     touches a real network or waits on something outside it, and
//     everything started in it stops before Simulate returns (synctest
//     fails otherwise).
//   - high and low water: the connection manager trims connections past
//     ConnLimits.MaxPeers down to LowWater·MaxPeers, sparing mesh peers
//     (pubsub tags them), new connections (GracePeriod) and connections
//     protected under TagRelay or TagTransfer.
//
// Wire bodies are uvarint-framed: intent (version, key, commit, replicas,
// removed), holdings (seq, capacity, mirror, count, then key, commit, flags
// each, then the count of addresses and each binary multiaddr), advert
// (seq, load, slots, count, names, then addresses as in holdings), audit
// (seq, signed bytes); policy and revocation bodies are the signed
// documents as they are. Every length and count is bounded before anything
// is allocated; trailing bytes are refused.
package gossip
