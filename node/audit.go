package node

import (
	"context"

	"github.com/cairnhub/cairn/sovereignty"
	"github.com/libp2p/go-libp2p/core/peer"
)

// KeepCheckpoint keeps a checkpoint a member published once its key is
// shown to be its node's (auditsync.Service.Keep).
func (d *Daemon) KeepCheckpoint(cp sovereignty.Checkpoint) error { return d.cps.Keep(cp) }

// HeldCheckpoint returns the latest checkpoint this node holds of node's
// log (its own log's latest for itself).
func (d *Daemon) HeldCheckpoint(node string) (sovereignty.Checkpoint, bool) {
	return d.cps.Held(node)
}

// OnCheckpoint adds a hook called with each checkpoint this node signs
// (every minute while entries arrive), to publish it to members.
func (d *Daemon) OnCheckpoint(f func(sovereignty.Checkpoint)) { d.cps.OnCheckpoint(f) }

// PeerCheckpoints asks every connected member for the latest checkpoint it
// holds of this node's log; members holding none are left out.
func (d *Daemon) PeerCheckpoints(ctx context.Context) ([]sovereignty.Checkpoint, error) {
	return d.cps.Ask(ctx)
}

// auditRevocations records a revocation list installed.
func (d *Daemon) auditRevocations(signed []byte) {
	e, err := sovereignty.RevocationInstalledEntry(signed)
	if err != nil {
		d.log.Warn("audit revocations", "err", err)
		return
	}
	if err := d.Audit.Append(e); err != nil {
		d.log.Error("audit", "err", err)
	}
}

// auditRefused records a refused certificate through the dedup auditor:
// a stranger may retry without end.
func (d *Daemon) auditRefused(p peer.ID, reason error) {
	d.audit(sovereignty.CertRefusedEntry(p.String(), reason))
}
