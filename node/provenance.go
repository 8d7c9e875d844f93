package node

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/provenance"
	"github.com/cairnhub/cairn/sovereignty"
)

// provenance loads the daemon's provenance checker once; without
// provenance.publishers, the organisation keys trusted then count.
func (d *Daemon) provenance() (*provenance.Checker, error) {
	d.provOnce.Do(func() {
		var trusted []ed25519.PublicKey
		if len(d.n.Config.Provenance.Publishers) == 0 {
			t, err := d.n.Trust()
			if err != nil {
				d.provErr = err
				return
			}
			trusted = t.Orgs()
		}
		d.prov = provenance.New(d.n.Config.Provenance, trusted)
	})
	return d.prov, d.provErr
}

// checkProvenance verifies m's signatures (provenance.Checker.Manifest);
// a refusal names the peer (from, "" for serving) in the audit log.
func (d *Daemon) checkProvenance(m *manifest.Manifest, peer, via string) error {
	p, err := d.provenance()
	if err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	if err := p.Manifest(m); err != nil {
		d.audit(sovereignty.Entry{Kind: "provenance", Subject: via, Peer: peer, Repo: m.Repo + "@" + m.Commit, Reason: err.Error()})
		d.log.Warn("manifest refused", "via", via, "peer", peer, "repo", m.Repo, "commit", m.Commit, "err", err)
		return err
	}
	return nil
}

// checkModelSig holds a revision whose bytes are in the store to its
// model.sig (provenance.Checker.Revision); a refusal is audited.
func (d *Daemon) checkModelSig(ctx context.Context, m *manifest.Manifest, via string) error {
	p, err := d.provenance()
	if err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	if err := p.Revision(ctx, d.n.Store, m); err != nil {
		d.audit(sovereignty.Entry{Kind: "provenance", Subject: via, Repo: m.Repo + "@" + m.Commit, Reason: err.Error()})
		d.log.Warn("model signature refused", "via", via, "repo", m.Repo, "commit", m.Commit, "err", err)
		return err
	}
	return nil
}
