// Package replicate keeps pinned revisions on the nodes that should hold
// them, without consensus: every node runs the same pure placement over
// the membership it sees and the intents it knows, and the chosen nodes
// fetch. Placement (Placer, Weight, Score) is pure computation; Service is
// the replicator around it: it floods intents over ProtocolPins, advertises
// holdings over ProtocolHoldings (or, with Deps.Gossip, publishes both on
// the control plane, holdings when they change and every minute), and
// fetches, repairs and releases
// replicas. It reaches the node only through the small interfaces of Deps
// (Store, Members, Policy, Puller, sovereignty.Auditor); package node
// builds it in StartDaemon with the node's store, p2p host, policy engine,
// Pull and audit log. The wire form of the two documents (Message) lives
// here too, decoded strictly.
//
// Words:
//
//   - Intent: a cluster-wide wish that a revision (kind, repo, revision
//     name, optionally pinned to a commit) be kept on N nodes, recorded by
//     `cairn pin`. Intents carry a version (nanoseconds since the epoch at
//     the recording node); for one key the newest version wins, and a
//     removed intent (tombstone, `cairn unpin`) is an intent too, so removal
//     floods like any change.
//   - Key: "kind/org/name@revision", what placement hashes.
//   - Candidate: a node that may hold a key: a live member with the mirror
//     role whose jurisdiction the policy allows to hold the repo (the caller
//     filters; see Request.Eligible).
//   - Weight: a candidate's share of replicas, proportional to its free
//     capacity, quantised to quarter steps of log2 so small changes in free
//     space do not move replicas (Weight).
//   - Score: the weighted rendezvous (highest random weight) score of a
//     candidate for a key, w / -ln(u) with u uniform in (0,1) from a hash of
//     key and node ID. The candidates in descending score are the key's
//     ranking; every node computes the same ranking from the same inputs,
//     and removing a candidate moves only the keys it held.
//   - Quota: "at least N replicas in jurisdiction (or group) K", from the
//     policy's replicas.in; quotas are filled first, from the ranking.
//   - Balance: the load bound ε of PlaceAll: no candidate gets more than
//     ceil((1+ε) × its fair share) of all replicas while another candidate
//     with room is eligible (consistent hashing with bounded loads applied to
//     rendezvous ranking), and one pass then hands keys to candidates left
//     under floor((1-ε) × share). Zero turns both off (pure rendezvous, each
//     key independent of the others). The price of balance: a key's
//     placement then depends on the other keys, so adding a pin may move a
//     few others.
//   - Holdings: what one node advertises: its free capacity and the
//     revisions it holds, each marked whether the replicator made it (only
//     those are released when surplus).
//   - Replica: a revision the replicator fetched (kept in the state file);
//     what the operator added or pulled is never a replica and never
//     released.
//   - Pass: one placement round of Service.Run (each interval, and when
//     holdings or intents change): snapshot, plan every intent, fetch what
//     this node is chosen for, release what it no longer should hold.
//   - Grace: how long a holder may be gone before its replicas count as
//     lost and another node fetches them (repair).
//   - Repair: a fetch because a holder was lost; Release: dropping a replica
//     that is surplus, unpinned or no longer allowed. Both are audited.
//   - Surplus: a holder of a key that is not among the key's chosen nodes.
//   - State file: PinsFile in the node's home, the intents known and the
//     replicas made, rewritten whole on each change.
package replicate
