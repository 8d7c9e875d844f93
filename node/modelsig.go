package node

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cairnhub/cairn/bom/bomstore"
	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/modelsign"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// OpenSSF model signing: a revision may carry model.sig, a Sigstore
// bundle over the sha256 digests of its other files (package modelsign).
// It is verified against provenance.signing_keys and signing_roots when
// the bytes are in the store: by `cairn mirror` after a mirror, by a
// daemon before it serves a manifest to a peer and before it commits a
// pulled one. Under provenance.require_signed either a Cairn publisher
// signature or a model.sig that verifies is enough.

func hasModelSig(m *manifest.Manifest) bool {
	_, ok := m.File(modelsign.SignatureFile)
	return ok
}

// ModelSigTrust loads the keys and roots provenance.signing_keys and
// signing_roots name.
func (c ProvenanceConfig) ModelSigTrust() (modelsign.VerifyOptions, error) {
	var o modelsign.VerifyOptions
	for _, p := range c.SigningKeys {
		b, err := os.ReadFile(p)
		if err != nil {
			return o, fmt.Errorf("provenance.signing_keys: %w", err)
		}
		k, err := modelsign.ParsePublicKeyPEM(b)
		if err != nil {
			return o, fmt.Errorf("provenance.signing_keys: %s: %w", p, err)
		}
		o.PublicKeys = append(o.PublicKeys, k)
	}
	for _, p := range c.SigningRoots {
		b, err := os.ReadFile(p)
		if err != nil {
			return o, fmt.Errorf("provenance.signing_roots: %w", err)
		}
		certs, err := modelsign.ParseCertificatesPEM(b)
		if err != nil {
			return o, fmt.Errorf("provenance.signing_roots: %s: %w", p, err)
		}
		o.Roots = append(o.Roots, certs...)
	}
	return o, nil
}

// VerifyModelSig verifies m's model.sig, read from st, against o; found is
// false when m has none.
func VerifyModelSig(ctx context.Context, st *store.Store, m *manifest.Manifest, o modelsign.VerifyOptions) (res modelsign.Result, found bool, err error) {
	f, ok := m.File(modelsign.SignatureFile)
	if !ok {
		return res, false, nil
	}
	b, err := chunker.ReadAll(ctx, st, f.CID, bomstore.MaxSigBundle)
	if err != nil {
		return res, true, fmt.Errorf("%s: %w", modelsign.SignatureFile, err)
	}
	res, err = modelsign.Verify(b, modelSignFiles(m), o)
	return res, true, err
}

func modelSignFiles(m *manifest.Manifest) []modelsign.File {
	out := make([]modelsign.File, 0, len(m.Files))
	for _, f := range m.Files {
		out = append(out, modelsign.File{Path: f.Path, SHA256: f.SHA256})
	}
	return out
}

// checkModelSig holds a revision whose bytes are in the store to the
// provenance configuration when it carries a model.sig: with signing keys
// or roots configured, the bundle must verify unless a Cairn publisher
// signed the manifest; without them, it cannot count for require_signed.
// Revisions without model.sig were held to require_signed with their
// manifest (checkProvenance).
func (d *Daemon) checkModelSig(ctx context.Context, m *manifest.Manifest, via string) error {
	if !hasModelSig(m) {
		return nil
	}
	cfg := d.n.Config.Provenance
	p, err := d.provenance()
	if err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	signers, _ := VerifyManifest(m, p.publishers, false) // every signature verified already
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
			_, _, err = VerifyModelSig(ctx, d.n.Store, m, o)
		}
	}
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s@%s: %w: %s: %w", m.Repo, m.Commit, ErrProvenance, modelsign.SignatureFile, err)
	d.audit(sovereignty.Entry{Kind: "provenance", Subject: via, Repo: m.Repo + "@" + m.Commit, Reason: err.Error()})
	d.log.Warn("model signature refused", "via", via, "repo", m.Repo, "commit", m.Commit, "err", err)
	return err
}

// SignRevision writes an OpenSSF model-signing bundle over m's files
// (model.sig excluded) with key and, for the certificate method, chain.
func SignRevision(m *manifest.Manifest, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	_, name, _ := strings.Cut(m.Repo, "/")
	return modelsign.Sign(modelSignFiles(m), modelsign.Signer{Key: key, Chain: chain}, modelsign.SignOptions{ModelName: name})
}

// AddModelSig commits a new revision of m under rev: its files plus
// model.sig holding bundle (replacing one it had). The new revision goes
// through g (nil: not checked) like any import; Cairn manifest signatures
// do not carry over, as the file list changed.
func AddModelSig(ctx context.Context, st *store.Store, m *manifest.Manifest, rev string, bundle []byte, g *gate.Gate) (*manifest.Manifest, error) {
	name := modelsign.SignatureFile
	r, err := chunker.ImportFile(ctx, st, bytes.NewReader(bundle), int64(len(bundle)), name, chunker.Options{})
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", name, err)
	}
	sum := hex.EncodeToString(r.SHA256[:])
	lfs := manifest.IsLFS(name, r.Size)
	files := slices.DeleteFunc(slices.Clone(m.Files), func(f manifest.File) bool { return f.Path == name })
	files = append(files, manifest.File{Path: name, Size: r.Size, SHA256: sum, LFS: lfs, CID: r.CID,
		BlobID: manifest.BlobIDOf(lfs, sum, r.Size, r.BlobID)})
	entries := make([]chunker.DirEntry, len(files))
	for i, f := range files {
		entries[i] = chunker.DirEntry{Path: f.Path, CID: f.CID, Size: f.Size}
	}
	root, _, err := chunker.BuildDir(ctx, st, entries)
	if err != nil {
		return nil, err
	}
	n := &manifest.Manifest{Version: manifest.Version, Type: m.Type, Repo: m.Repo, Created: time.Now().UTC().Truncate(time.Millisecond), Root: root, Files: files}
	n.Sort()
	if n.Commit, err = n.DeriveCommit(); err != nil {
		return nil, err
	}
	all, err := chunker.CIDs(ctx, st, root)
	if err != nil {
		return nil, err
	}
	if g != nil {
		res, err := g.Check(ctx, n.Type, n.Repo, gate.Paths(n), gate.StoreOpener(ctx, st, n))
		if err != nil {
			return nil, err
		}
		if err := g.Record(ctx, res, n.Commit); err != nil {
			return nil, err
		}
	}
	if err := st.Commit(ctx, n, rev, all); err != nil {
		return nil, err
	}
	return n, nil
}
