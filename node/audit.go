package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairnhub/cairn/p2p/rpc"
	"github.com/cairnhub/cairn/sovereignty"
)

// CheckpointProtocol answers a member's question "what is the latest
// checkpoint you hold of node X's audit log?" (request: X's peer ID; answer:
// the encoded checkpoint, empty when none is held).
const CheckpointProtocol = protocol.ID("/cairn/audit-checkpoint/1.0.0")

// CheckpointPushProtocol carries one checkpoint a member signed of its own
// log, for the receiver to keep (no answer).
const CheckpointPushProtocol = protocol.ID("/cairn/audit-checkpoint-push/1.0.0")

// Audit checkpoint timing and sizes.
const (
	checkpointInterval = time.Minute
	// checkpointRepush: an unchanged checkpoint is pushed again every so
	// many intervals, for members that joined since.
	checkpointRepush  = 10
	checkpointAskWait = 10 * time.Second
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

// checkpoints keeps what the daemon knows of audit checkpoints: every
// member's latest (the book) and the hooks that publish this node's own.
type checkpoints struct {
	book *sovereignty.CheckpointBook
	mu   sync.Mutex
	pubs []func(sovereignty.Checkpoint)
}

// KeepCheckpoint keeps a checkpoint a member published (gossip, or an
// answer to CheckpointAsk) once its key is shown to be its node's: a peer
// ID is derived from its key.
func (d *Daemon) KeepCheckpoint(cp sovereignty.Checkpoint) error {
	id, err := peer.Decode(cp.Node)
	if err != nil {
		return fmt.Errorf("checkpoint: node %q: %w", cp.Node, err)
	}
	pub, err := crypto.UnmarshalEd25519PublicKey(cp.Key)
	if err != nil {
		return fmt.Errorf("checkpoint of %s: key: %w", cp.Node, err)
	}
	if !id.MatchesPublicKey(pub) {
		return fmt.Errorf("checkpoint of %s: signed by a key that is not the node's: %w", cp.Node, sovereignty.ErrBadSignature)
	}
	return d.cps.book.Keep(cp)
}

// HeldCheckpoint returns the latest checkpoint this node holds of node's
// log (its own log's latest for itself).
func (d *Daemon) HeldCheckpoint(node string) (sovereignty.Checkpoint, bool) {
	if node == d.n.ID.String() {
		return d.Audit.Latest()
	}
	return d.cps.book.Get(node)
}

// OnCheckpoint adds a hook called with each checkpoint this node signs
// (every minute while entries arrive), to publish it to members.
func (d *Daemon) OnCheckpoint(f func(sovereignty.Checkpoint)) {
	d.cps.mu.Lock()
	d.cps.pubs = append(d.cps.pubs, f)
	d.cps.mu.Unlock()
}

// runCheckpoints signs a checkpoint of the log every interval, keeps the
// members' books current (hooks), and leaves the final one to Close.
func (d *Daemon) runCheckpoints(ctx context.Context) error {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	var last sovereignty.Checkpoint
	for tick := 0; ; tick++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cp, err := d.Audit.Checkpoint()
		if err != nil {
			d.log.Warn("audit checkpoint", "err", err)
			continue
		}
		if cp.Seq == last.Seq && cp.Head == last.Head && tick%checkpointRepush != 0 {
			continue
		}
		last = cp
		d.cps.mu.Lock()
		pubs := append([]func(sovereignty.Checkpoint){}, d.cps.pubs...)
		d.cps.mu.Unlock()
		for _, f := range pubs {
			f(cp)
		}
	}
}

// pushCheckpoint sends cp to every connected member (the publish hook
// without gossip): each keeps the latest of every node.
func (d *Daemon) pushCheckpoint(ctx context.Context, cp sovereignty.Checkpoint) {
	msg := cp.Marshal()
	for _, p := range d.Host.Peers() {
		go func() {
			if err := rpc.Send(ctx, d.Host.Libp2p(), p.ID, CheckpointPushProtocol, msg); err != nil {
				d.log.Debug("push audit checkpoint", "peer", p.ID, "err", err)
			}
		}()
	}
}

// registerCheckpoints answers members asking for the checkpoints held,
// keeps those members push, and pushes this node's own.
func (d *Daemon) registerCheckpoints(ctx context.Context) {
	d.OnCheckpoint(func(cp sovereignty.Checkpoint) { d.pushCheckpoint(ctx, cp) })
	d.Host.Handle(CheckpointPushProtocol, func(s network.Stream) {
		defer s.Close()
		from := s.Conn().RemotePeer()
		if _, ok := d.Host.Member(from); !ok {
			_ = s.Reset()
			return
		}
		b, err := rpc.Read(s, sovereignty.MaxCheckpointSize)
		if err != nil {
			_ = s.Reset()
			return
		}
		cp, err := sovereignty.ParseCheckpoint(b)
		if err != nil || cp.Node != from.String() {
			d.log.Debug("audit checkpoint refused", "peer", from, "err", err)
			return
		}
		if err := d.KeepCheckpoint(*cp); err != nil && !errors.Is(err, sovereignty.ErrStale) {
			// Evidence of a rewritten log is worth a line of our own.
			d.log.Warn("audit checkpoint of a member", "peer", from, "err", err)
			if errors.Is(err, sovereignty.ErrAuditBroken) {
				d.record(sovereignty.Entry{Kind: "checkpoint-conflict", Subject: "audit checkpoint", Peer: from.String(), Reason: err.Error()})
			}
		}
	})
	d.Host.Handle(CheckpointProtocol, func(s network.Stream) {
		defer s.Close()
		if _, ok := d.Host.Member(s.Conn().RemotePeer()); !ok {
			_ = s.Reset()
			return
		}
		req, err := rpc.Read(s, 128)
		if err != nil {
			_ = s.Reset()
			return
		}
		var out []byte
		if cp, ok := d.HeldCheckpoint(string(req)); ok {
			out = cp.Marshal()
		}
		_ = rpc.Reply(s, out)
	})
}

// PeerCheckpoints asks every connected member for the latest checkpoint it
// holds of this node's log; members holding none are left out.
func (d *Daemon) PeerCheckpoints(ctx context.Context) ([]sovereignty.Checkpoint, error) {
	if d.Host == nil {
		return nil, errors.New("peer-to-peer is off: no member to ask")
	}
	ctx, cancel := context.WithTimeout(ctx, checkpointAskWait)
	defer cancel()
	peers := d.Host.Peers()
	got := make([]*sovereignty.Checkpoint, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := rpc.Request(ctx, d.Host.Libp2p(), p.ID, CheckpointProtocol, []byte(d.n.ID.String()), sovereignty.MaxCheckpointSize)
			if err != nil || len(b) == 0 {
				return
			}
			if cp, err := sovereignty.ParseCheckpoint(b); err == nil && cp.Node == d.n.ID.String() && cp.Verify() == nil {
				got[i] = cp
			}
		}()
	}
	wg.Wait()
	var out []sovereignty.Checkpoint
	for _, cp := range got {
		if cp != nil {
			out = append(out, *cp)
		}
	}
	return out, nil
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
