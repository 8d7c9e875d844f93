package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairnhub/cairn/sovereignty"
)

// ProtocolPolicy carries a signed residency policy to a member. A node
// pushes its policy to every member that joins and to all members when it
// changes; receivers keep it only when it verifies and is newer, so the
// newest policy floods the network without consensus.
const ProtocolPolicy protocol.ID = "/cairn/policy/1.0.0"

const maxPolicy = 1 << 20

// SetPolicy verifies a signed policy, puts it in force, saves it in the
// home and sends it to every connected member. On error nothing changes.
func (d *Daemon) SetPolicy(ctx context.Context, signed []byte) (*sovereignty.Policy, error) {
	p, err := d.applyPolicy(signed)
	if err != nil {
		return nil, err
	}
	if d.Host != nil {
		for _, pi := range d.Host.Peers() {
			go d.pushPolicy(context.WithoutCancel(ctx), pi.ID)
		}
	}
	return p, nil
}

func (d *Daemon) applyPolicy(signed []byte) (*sovereignty.Policy, error) {
	p, err := d.Engine.Set(signed)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if err := replaceFile(filepath.Join(d.n.Home, PolicyFile), signed, 0o644); err != nil {
		return p, fmt.Errorf("policy in force but not saved: %w", err)
	}
	d.log.Info("policy in force", "version", p.Version, "rules", len(p.Rules))
	return p, nil
}

func (d *Daemon) pushPolicy(ctx context.Context, p peer.ID) {
	signed := d.Engine.Signed()
	if signed == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := d.Host.Libp2p().NewStream(ctx, p, ProtocolPolicy)
	if err != nil {
		d.log.Debug("push policy", "peer", p, "err", err)
		return
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	s.Write(signed)
}

func (d *Daemon) handlePolicy(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(io.LimitReader(s, maxPolicy+1))
	if err != nil || len(b) > maxPolicy {
		return
	}
	if _, err := d.applyPolicy(b); err != nil && !errors.Is(err, sovereignty.ErrStale) {
		d.log.Warn("policy from peer refused", "peer", s.Conn().RemotePeer(), "err", err)
	}
}

// policySync pushes the policy to members as they join.
func (d *Daemon) policySync(ctx context.Context) error {
	for ev := range d.Host.Subscribe(ctx) {
		if ev.Joined {
			go d.pushPolicy(ctx, ev.Peer)
		}
	}
	return nil
}

// SignedPolicy returns the signed policy saved in a home, or nil.
func SignedPolicy(home string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(home, PolicyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
