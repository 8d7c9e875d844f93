package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cairnhub/cairn/p2p/policysync"
	"github.com/cairnhub/cairn/sovereignty"
)

// SetPolicy verifies a signed policy, puts it in force, saves it in the
// home and sends it to every connected member. On error nothing changes.
func (d *Daemon) SetPolicy(ctx context.Context, signed []byte) (*sovereignty.Policy, error) {
	p, err := d.applyPolicy(signed)
	if err != nil {
		return nil, err
	}
	if d.PolicySync != nil {
		d.PolicySync.Broadcast(ctx)
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

// policyInForce is the daemon's policy as policysync sees it: received
// policies are applied (and saved) like SetPolicy's, without the push.
type policyInForce struct{ d *Daemon }

func (p policyInForce) Set(signed []byte) error {
	_, err := p.d.applyPolicy(signed)
	return err
}

func (p policyInForce) Signed() []byte { return p.d.Engine.Signed() }

// startPolicySync registers the policy protocol on the host.
func (d *Daemon) startPolicySync() (err error) {
	d.PolicySync, err = policysync.New(d.Host.Libp2p(), policysync.Deps{Members: d.Host, Policy: policyInForce{d}, Logger: d.log})
	return err
}

// SignedPolicy returns the signed policy saved in a home, or nil.
func SignedPolicy(home string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(home, PolicyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
