package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/manifest"
)

// Gate is the daemon's gate of imports via `via`: its policy and audit
// log, the trust of the home.
func (d *Daemon) Gate(via string) (*gate.Gate, error) {
	trust, err := d.n.Trust()
	if err != nil {
		return nil, err
	}
	return &gate.Gate{Engine: d.Engine, Trust: trust, Records: d.n.Store, Audit: d.Audit, Via: via}, nil
}

// gatePulled checks a pulled revision before it is committed; a revision
// the policy quarantines is committed quarantined, as on every import.
func (d *Daemon) gatePulled(ctx context.Context, m *manifest.Manifest, sources []peer.ID) error {
	g, err := d.Gate("pull")
	if err != nil {
		return err
	}
	res, err := g.Check(ctx, m.Type, m.Repo, gate.Paths(m), gate.StoreOpener(ctx, d.n.Store, m))
	if err != nil {
		return fmt.Errorf("pull %s@%s: gate: %w", m.Repo, m.Commit, err)
	}
	if res.Quarantined() && d.Host != nil {
		// Released at the source: the release travels with the revision.
		res.Release = d.releases.Ask(ctx, m, sources)
	}
	if err := g.Record(ctx, res, m.Commit); err != nil {
		return fmt.Errorf("pull %s@%s: %w", m.Repo, m.Commit, err)
	}
	if q, _ := d.n.Store.Quarantined(ctx, m.Type, m.Repo, m.Commit); q {
		d.log.Warn("pulled revision quarantined", "repo", m.Repo, "commit", m.Commit, "reasons", strings.Join(res.Verdict.Reasons, "; "))
	}
	return nil
}
