package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// policyEngine is the residency policy of the home: signed by this node's
// own organisation (even when it trusts others' members), the policy file
// in force when there is one.
func (n *Node) policyEngine(trust *sovereignty.Trust, audit sovereignty.Auditor) (*sovereignty.Engine, error) {
	cert, _ := n.Certificate()
	policyTrust := ownOrgTrust(cert, trust)
	e := sovereignty.NewEngine(policyTrust, audit)
	if b, err := os.ReadFile(filepath.Join(n.Home, PolicyFile)); err == nil {
		if _, err := e.Set(b); err != nil {
			return nil, fmt.Errorf("policy %s: %w", filepath.Join(n.Home, PolicyFile), err)
		}
	}
	return e, nil
}

// Compliance is what the compliance commands work with on a node without
// a daemon: the gate over the store, the policy and the audit log.
type Compliance struct {
	Engine *sovereignty.Engine
	Trust  *sovereignty.Trust
	Audit  *sovereignty.Audit
	// Self is this node's membership from its own certificate; nil without
	// a valid one (then a policy in force refuses every import).
	Self  *sovereignty.Member
	store *store.Store
}

// OpenCompliance opens the home's audit log, trust and policy for the
// gate of a command run without a daemon. Close releases the audit log.
func (n *Node) OpenCompliance() (*Compliance, error) {
	trust, err := n.Trust()
	if err != nil {
		return nil, err
	}
	audit, err := n.OpenAudit()
	if err != nil {
		return nil, err
	}
	e, err := n.policyEngine(trust, audit)
	if err != nil {
		audit.Close()
		return nil, err
	}
	c := &Compliance{Engine: e, Trust: trust, Audit: audit, store: n.Store}
	if cert, err := n.Certificate(); err == nil && cert != nil {
		// An expired or revoked certificate gives no membership: with a
		// policy in force the import is refused, and says why.
		c.Self, _ = trust.VerifyBytes(cert, n.ID.String(), now())
	}
	return c, nil
}

// Policy is the residency decision of imports via `via`, recorded in the
// same audit log as the gate's; force overrides a refusal (audited).
func (c *Compliance) Policy(via string, force bool) *sovereignty.ImportGate {
	return &sovereignty.ImportGate{Engine: c.Engine, Self: c.Self, Audit: c.Audit, Via: via, Force: force}
}

// Gate is the gate of imports via `via` ("add", "mirror", …).
func (c *Compliance) Gate(via string) *gate.Gate {
	return &gate.Gate{Engine: c.Engine, Trust: c.Trust, Records: c.store, Audit: c.Audit, Via: via}
}

// Close releases the audit log.
func (c *Compliance) Close() error { return c.Audit.Close() }

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

// CheckQuarantine returns a *gate.QuarantineError when m's revision is
// quarantined and not released (gate.CheckQuarantine).
func CheckQuarantine(ctx context.Context, st *store.Store, m *manifest.Manifest) error {
	return gate.CheckQuarantine(ctx, st, m)
}
