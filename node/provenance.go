package node

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/modelsign/revsign"
	"github.com/cairnhub/cairn/sovereignty"
)

// Provenance: a manifest may carry ed25519 signatures of publishers,
// checked by sovereignty.VerifyManifest before a node serves a manifest
// to a peer (catalog protocol) and before it commits one pulled from a
// peer; ProvenanceConfig says which signatures count.

// ProvenanceConfig says which manifest signatures count.
type ProvenanceConfig struct {
	// RequireSigned refuses manifests, pulled or served, that no publisher
	// key signed. Default false: unsigned manifests are accepted from
	// members; signatures present must still verify.
	RequireSigned bool `yaml:"require_signed"`
	// Publishers are the publisher public keys ("cairn-org:…", the text
	// form of sovereignty.FormatOrgPublicKey) whose signatures count.
	// Default: the organisation keys the node trusts.
	Publishers []string `yaml:"publishers"`
	// SigningKeys are PEM files of public keys (ECDSA P-256/384/521 or
	// ed25519) trusted for OpenSSF model-signing bundles (model.sig) of
	// the key method. Default none.
	SigningKeys []string `yaml:"signing_keys"`
	// SigningRoots are PEM files of root certificates trusted for
	// model.sig bundles of the certificate method. Default none.
	SigningRoots []string `yaml:"signing_roots"`
}

// Validate checks that every publisher key parses.
func (c ProvenanceConfig) Validate() error {
	for i, k := range c.Publishers {
		if _, err := sovereignty.ParseOrgPublicKey(strings.TrimSpace(k)); err != nil {
			return fmt.Errorf("provenance.publishers[%d]: %w", i, err)
		}
	}
	return nil
}

// ClusterConfig are the replication and provenance sections of a home's
// config.yaml.
type ClusterConfig struct {
	Replication ReplicationConfig
	Provenance  ProvenanceConfig
}

// LoadClusterConfig reads the two sections from a home's config.yaml.
func LoadClusterConfig(home string) (ClusterConfig, error) {
	c, err := LoadConfig(filepath.Join(home, ConfigFile))
	if err != nil {
		return ClusterConfig{}, err
	}
	return ClusterConfig{Replication: c.Replication, Provenance: c.Provenance}, nil
}

// SaveClusterConfig sets the two sections in a home's config.yaml (the
// file is rewritten without its comments).
func SaveClusterConfig(home string, cc ClusterConfig) error {
	p := filepath.Join(home, ConfigFile)
	c, err := LoadConfig(p)
	if err != nil {
		return err
	}
	c.Replication, c.Provenance = cc.Replication, cc.Provenance
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	return replaceFile(p, b, 0o644)
}

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
