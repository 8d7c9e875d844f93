package node

import (
	"crypto/ed25519"
	"fmt"
	"strings"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/modelsign/revsign"
	"github.com/cairnhub/cairn/sovereignty"
)

// Provenance: a manifest may carry ed25519 signatures of publishers,
// checked by sovereignty.VerifyManifest before a node serves a manifest
// to a peer (catalog protocol) and before it commits one pulled from a
// peer; config.Provenance says which signatures count.

// provenance is a daemon's loaded trust configuration for manifests.
type provenance struct {
	publishers    []ed25519.PublicKey
	requireSigned bool
}

// provenance loads the daemon's manifest trust configuration once.
func (d *Daemon) provenance() (*provenance, error) {
	d.provOnce.Do(func() {
		cfg := d.n.Config.Provenance
		p := &provenance{requireSigned: cfg.RequireSigned}
		for _, s := range cfg.Publishers {
			k, _ := sovereignty.ParseOrgPublicKey(strings.TrimSpace(s)) // validated with the config
			p.publishers = append(p.publishers, k)
		}
		if len(cfg.Publishers) == 0 {
			t, err := d.n.Trust()
			if err != nil {
				d.provErr = err
				return
			}
			p.publishers = t.Orgs()
		}
		d.prov = p
	})
	return d.prov, d.provErr
}

// checkProvenance verifies m under the daemon's trust configuration;
// a refusal names the peer (from, "" for serving) in the audit log.
func (d *Daemon) checkProvenance(m *manifest.Manifest, peer, via string) error {
	p, err := d.provenance()
	if err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	// A model.sig is verified once its bytes are here (checkModelSig);
	// until then it stands for a signature under require_signed.
	if _, err := sovereignty.VerifyManifest(m, p.publishers, p.requireSigned && !revsign.Has(m)); err != nil {
		d.audit(sovereignty.Entry{Kind: "provenance", Subject: via, Peer: peer, Repo: m.Repo + "@" + m.Commit, Reason: err.Error()})
		d.log.Warn("manifest refused", "via", via, "peer", peer, "repo", m.Repo, "commit", m.Commit, "err", err)
		return err
	}
	return nil
}
