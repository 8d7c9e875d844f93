// Package auditsync keeps members' copies of each other's audit-log
// checkpoints, so that a node's log cannot be cut back or rewritten behind
// what its members hold. A Service signs a checkpoint of the node's own
// log every minute (Run), pushes it to every connected member over
// PushProtocol, keeps the checkpoints members push (Keep, once the signing
// key is shown to be the pushing node's), and answers AskProtocol with the
// checkpoint it holds of a node's log; Ask collects what the members hold
// of this node's, for `cairn audit verify --peers`.
//
// The Service works without a host (peer-to-peer off: checkpoints are
// signed and kept, none exchanged); Serve takes the node's
// membership-gated libp2p host and registers the two handlers. Each
// message is one bounded message on a stream (p2p/rpc). Caller: package
// node (the daemon's audit checkpoints).
//
// Words:
//   - Checkpoint: a signed statement of an audit log's length and head
//     hash (sovereignty.Checkpoint), signed with the node's identity key.
//   - Book: the latest checkpoint held of every member's log
//     (sovereignty.CheckpointBook); an older one is refused as stale, one
//     that contradicts the held one is evidence of a rewritten log and
//     audited here as "checkpoint-conflict".
//   - Push: one stream carrying one checkpoint of the sender's own log,
//     no answer; repeated every ten minutes even when unchanged, for
//     members that joined since.
//   - Ask: one stream carrying a node's peer ID, answered with the
//     encoded checkpoint held of its log, empty when none.
package auditsync
