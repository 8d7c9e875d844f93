package node

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/modelsign/revsign"
	"github.com/cairnhub/cairn/sovereignty"
)

// Provenance: a manifest may carry ed25519 signatures of publishers (the
// organisation, or an upstream mirror node acting for it) over
// manifest.SigningBytes. A node checks them before it serves a manifest to
// a peer (catalog protocol) and before it commits one pulled from a peer:
//
//   - every signature present must verify; one that does not means the
//     manifest was altered after signing, and it is refused whatever the
//     configuration says;
//   - a signature counts when its key is a publisher of the trust
//     configuration (ProvenanceConfig.Publishers, by default the trusted
//     organisation keys);
//   - a manifest with no counting signature is accepted unless
//     ProvenanceConfig.RequireSigned is set. Unsigned manifests are the
//     default within an organisation because only members (certificates
//     of a trusted organisation) can serve manifests at all; set
//     require_signed when members themselves are not to be trusted with
//     content.

// ErrProvenance: a manifest's signatures do not satisfy the trust
// configuration.
var ErrProvenance = errors.New("manifest provenance refused")

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

// SignManifest adds (or replaces) key's signature over m.SigningBytes.
// Re-commit m to keep it (store.Commit replaces a stored manifest of the
// same commit and root).
func SignManifest(m *manifest.Manifest, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("sign manifest: %w", sovereignty.ErrBadKey)
	}
	msg, err := m.SigningBytes()
	if err != nil {
		return fmt.Errorf("sign manifest %s: %w", m.Repo, err)
	}
	pub := sovereignty.FormatOrgPublicKey(key.Public().(ed25519.PublicKey))
	sig := manifest.Signature{Key: pub, Sig: ed25519.Sign(key, msg)}
	m.Signatures = slices.DeleteFunc(m.Signatures, func(s manifest.Signature) bool { return s.Key == pub })
	m.Signatures = append(m.Signatures, sig)
	slices.SortFunc(m.Signatures, func(a, b manifest.Signature) int { return strings.Compare(a.Key, b.Key) })
	return nil
}

// VerifyManifest checks m's signatures: every one must verify (ErrProvenance
// wrapping sovereignty.ErrBadSignature otherwise); it returns the keys of
// the signatures by publishers. With requireSigned, none is an error.
func VerifyManifest(m *manifest.Manifest, publishers []ed25519.PublicKey, requireSigned bool) (signers []string, err error) {
	if len(m.Signatures) > 0 {
		msg, err := m.SigningBytes()
		if err != nil {
			return nil, fmt.Errorf("%s@%s: %w: %w", m.Repo, m.Commit, ErrProvenance, err)
		}
		for _, s := range m.Signatures {
			k, err := sovereignty.ParseOrgPublicKey(s.Key)
			if err != nil {
				return nil, fmt.Errorf("%s@%s: %w: signature key %q: %w", m.Repo, m.Commit, ErrProvenance, s.Key, err)
			}
			if !ed25519.Verify(k, msg, s.Sig) {
				return nil, fmt.Errorf("%s@%s: %w: signature by %s does not verify (altered after signing?): %w", m.Repo, m.Commit, ErrProvenance, s.Key, sovereignty.ErrBadSignature)
			}
			if slices.ContainsFunc(publishers, func(p ed25519.PublicKey) bool { return p.Equal(k) }) {
				signers = append(signers, s.Key)
			}
		}
	}
	if requireSigned && len(signers) == 0 {
		return nil, fmt.Errorf("%s@%s: %w: not signed by a trusted publisher (provenance.require_signed)", m.Repo, m.Commit, ErrProvenance)
	}
	return signers, nil
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
	if _, err := VerifyManifest(m, p.publishers, p.requireSigned && !revsign.Has(m)); err != nil {
		d.audit(sovereignty.Entry{Kind: "provenance", Subject: via, Peer: peer, Repo: m.Repo + "@" + m.Commit, Reason: err.Error()})
		d.log.Warn("manifest refused", "via", via, "peer", peer, "repo", m.Repo, "commit", m.Commit, "err", err)
		return err
	}
	return nil
}
