package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/modelsign"
	"github.com/cairnhub/cairn/modelsign/revsign"
	"github.com/cairnhub/cairn/sovereignty"
)

// OpenSSF model signing: a revision may carry model.sig, a Sigstore
// bundle over the sha256 digests of its other files (packages modelsign, modelsign/revsign).
// It is verified against provenance.signing_keys and signing_roots when
// the bytes are in the store: by `cairn mirror` after a mirror, by a
// daemon before it serves a manifest to a peer and before it commits a
// pulled one. Under provenance.require_signed either a Cairn publisher
// signature or a model.sig that verifies is enough.

// checkModelSig holds a revision whose bytes are in the store to the
// provenance configuration when it carries a model.sig: with signing keys
// or roots configured, the bundle must verify unless a Cairn publisher
// signed the manifest; without them, it cannot count for require_signed.
// Revisions without model.sig were held to require_signed with their
// manifest (checkProvenance).
func (d *Daemon) checkModelSig(ctx context.Context, m *manifest.Manifest, via string) error {
	if !revsign.Has(m) {
		return nil
	}
	cfg := d.n.Config.Provenance
	p, err := d.provenance()
	if err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	signers, _ := sovereignty.VerifyManifest(m, p.publishers, false) // every signature verified already
	if len(signers) > 0 {
		return nil
	}
	if len(cfg.SigningKeys)+len(cfg.SigningRoots) == 0 {
		if !cfg.RequireSigned {
			return nil
		}
		err = errors.New("no provenance.signing_keys or signing_roots to verify it with")
	} else {
		var o modelsign.VerifyOptions
		if o, err = cfg.ModelSigTrust(); err == nil {
			_, _, err = revsign.Verify(ctx, d.n.Store, m, o)
		}
	}
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s@%s: %w: %s: %w", m.Repo, m.Commit, sovereignty.ErrProvenance, modelsign.SignatureFile, err)
	d.audit(sovereignty.Entry{Kind: "provenance", Subject: via, Repo: m.Repo + "@" + m.Commit, Reason: err.Error()})
	d.log.Warn("model signature refused", "via", via, "repo", m.Repo, "commit", m.Commit, "err", err)
	return err
}
