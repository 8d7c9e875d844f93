package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/sovereignty"
)

// AuditKey is the node's identity key as an ed25519 key, which signs the
// checkpoints of its audit log.
func (n *Node) AuditKey() (ed25519.PrivateKey, error) {
	if n.Identity.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("identity: audit checkpoints need an ed25519 key, have %s", n.Identity.Type())
	}
	raw, err := n.Identity.Raw()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("identity: ed25519 key of %d bytes", len(raw))
	}
	return ed25519.PrivateKey(raw), nil
}

// OpenAudit opens the home's audit log with the node key as checkpoint
// signer. Every writer of the log opens it so: after a clean shutdown the
// log is sealed by a final checkpoint, and only a signing writer may
// continue it. Close writes the final checkpoint.
func (n *Node) OpenAudit() (*sovereignty.Audit, error) {
	k, err := n.AuditKey()
	if err != nil {
		return nil, err
	}
	a, err := sovereignty.OpenAuditWith(filepath.Join(n.Home, AuditFile), sovereignty.AuditOptions{Signer: sovereignty.KeySigner(k), Node: n.ID.String()})
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return a, nil
}

// VerifyAudit checks the home's audit log against the node key and the
// checkpoints given (held by other members).
func (n *Node) VerifyAudit(peers []sovereignty.Checkpoint) (sovereignty.AuditReport, error) {
	k, err := n.AuditKey()
	if err != nil {
		return sovereignty.AuditReport{}, err
	}
	return sovereignty.VerifyAuditLog(filepath.Join(n.Home, AuditFile), sovereignty.VerifyOptions{Key: k.Public().(ed25519.PublicKey), Peers: peers})
}

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
