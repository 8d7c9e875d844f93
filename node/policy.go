package node

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/internal/atomicfile"
	"github.com/cairnhub/cairn/sovereignty"
)

// SetPolicy verifies a signed policy, puts it in force, saves it in the
// home and gossips it to every member. On error nothing changes.
func (d *Daemon) SetPolicy(ctx context.Context, signed []byte) (*sovereignty.Policy, error) {
	p, err := d.applyPolicy(signed)
	if err != nil {
		return nil, err
	}
	if d.Gossip != nil {
		if err := d.Gossip.PublishPolicy(ctx, signed); err != nil {
			return p, fmt.Errorf("policy in force here but not gossiped: %w", err)
		}
	}
	return p, nil
}

func (d *Daemon) applyPolicy(signed []byte) (*sovereignty.Policy, error) {
	p, err := d.Engine.Set(signed)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(d.n.Dir, home.PolicyFile), signed, 0o644); err != nil {
		return p, fmt.Errorf("policy in force but not saved: %w", err)
	}
	d.log.Info("policy in force", "version", p.Version, "rules", len(p.Rules))
	return p, nil
}
