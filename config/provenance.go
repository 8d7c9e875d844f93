package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cairnhub/cairn/internal/atomicfile"
	"github.com/cairnhub/cairn/modelsign"
	"github.com/cairnhub/cairn/modelsign/revsign"
	"github.com/cairnhub/cairn/replicate"
	"github.com/cairnhub/cairn/sovereignty"
)

// Provenance says which manifest signatures count.
type Provenance struct {
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
func (c Provenance) Validate() error {
	for i, k := range c.Publishers {
		if _, err := sovereignty.ParseOrgPublicKey(strings.TrimSpace(k)); err != nil {
			return fmt.Errorf("provenance.publishers[%d]: %w", i, err)
		}
	}
	return nil
}

// Cluster are the replication and provenance sections of a home's
// config.yaml.
type Cluster struct {
	Replication replicate.Config
	Provenance  Provenance
}

// LoadCluster reads the two sections from a config file.
func LoadCluster(path string) (Cluster, error) {
	c, err := Load(path)
	if err != nil {
		return Cluster{}, err
	}
	return Cluster{Replication: c.Replication, Provenance: c.Provenance}, nil
}

// SaveCluster sets the two sections in a config file (the file is
// rewritten without its comments).
func SaveCluster(p string, cc Cluster) error {
	c, err := Load(p)
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
	return atomicfile.Write(p, b, 0o644)
}

// ModelSigTrust loads the keys and roots provenance.signing_keys and
// signing_roots name.
func (c Provenance) ModelSigTrust() (o modelsign.VerifyOptions, err error) {
	if o.PublicKeys, err = revsign.LoadKeys(c.SigningKeys); err != nil {
		return o, fmt.Errorf("provenance.signing_keys: %w", err)
	}
	if o.Roots, err = revsign.LoadRoots(c.SigningRoots); err != nil {
		return o, fmt.Errorf("provenance.signing_roots: %w", err)
	}
	return o, nil
}
