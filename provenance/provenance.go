package provenance

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/config"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/modelsign"
	"github.com/cairnhub/cairn/modelsign/revsign"
	"github.com/cairnhub/cairn/sovereignty"
)

// Checker holds manifests and revisions to one provenance configuration.
type Checker struct {
	cfg        config.Provenance
	publishers []ed25519.PublicKey
}

// New returns the Checker of cfg (validated); trusted are the
// organisation keys the node trusts, the publishers when cfg names none.
func New(cfg config.Provenance, trusted []ed25519.PublicKey) *Checker {
	c := &Checker{cfg: cfg}
	for _, s := range cfg.Publishers {
		k, _ := sovereignty.ParseOrgPublicKey(strings.TrimSpace(s)) // validated with the config
		c.publishers = append(c.publishers, k)
	}
	if len(cfg.Publishers) == 0 {
		c.publishers = trusted
	}
	return c
}

// Manifest verifies m's publisher signatures and, under require_signed,
// that a publisher signed it. A model.sig in the revision stands for a
// signature until its bytes are here (Revision).
func (c *Checker) Manifest(m *manifest.Manifest) error {
	_, err := sovereignty.VerifyManifest(m, c.publishers, c.cfg.RequireSigned && !revsign.Has(m))
	return err
}

// Revision holds a revision whose bytes are in st to the configuration
// when it carries a model.sig: with signing keys or roots configured, the
// bundle must verify unless a publisher signed the manifest; without
// them, it cannot count for require_signed. Revisions without model.sig
// were held to require_signed with their manifest.
func (c *Checker) Revision(ctx context.Context, st chunker.Getter, m *manifest.Manifest) error {
	if !revsign.Has(m) {
		return nil
	}
	signers, _ := sovereignty.VerifyManifest(m, c.publishers, false) // every signature verified already
	if len(signers) > 0 {
		return nil
	}
	var err error
	if len(c.cfg.SigningKeys)+len(c.cfg.SigningRoots) == 0 {
		if !c.cfg.RequireSigned {
			return nil
		}
		err = errors.New("no provenance.signing_keys or signing_roots to verify it with")
	} else {
		var o modelsign.VerifyOptions
		if o, err = c.cfg.ModelSigTrust(); err == nil {
			_, _, err = revsign.Verify(ctx, st, m, o)
		}
	}
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s@%s: %w: %s: %w", m.Repo, m.Commit, sovereignty.ErrProvenance, modelsign.SignatureFile, err)
}
