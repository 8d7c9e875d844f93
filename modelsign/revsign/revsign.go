package revsign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/modelsign"
	"github.com/cairnhub/cairn/store"
)

// MaxBundle bounds a model.sig read from the store.
const MaxBundle = 1 << 20

// Has says m carries a model.sig.
func Has(m *manifest.Manifest) bool {
	_, ok := m.File(modelsign.SignatureFile)
	return ok
}

// Verify verifies m's model.sig, read from st, against o; found is false
// when m has none.
func Verify(ctx context.Context, st chunker.Getter, m *manifest.Manifest, o modelsign.VerifyOptions) (res modelsign.Result, found bool, err error) {
	f, ok := m.File(modelsign.SignatureFile)
	if !ok {
		return res, false, nil
	}
	b, err := chunker.ReadAll(ctx, st, f.CID, MaxBundle)
	if err != nil {
		return res, true, fmt.Errorf("%s: %w", modelsign.SignatureFile, err)
	}
	res, err = modelsign.Verify(b, Files(m), o)
	return res, true, err
}

// Files are m's files as modelsign signs them: path and sha256.
func Files(m *manifest.Manifest) []modelsign.File {
	out := make([]modelsign.File, 0, len(m.Files))
	for _, f := range m.Files {
		out = append(out, modelsign.File{Path: f.Path, SHA256: f.SHA256})
	}
	return out
}

// Sign writes an OpenSSF model-signing bundle over m's files (model.sig
// excluded) with key and, for the certificate method, chain.
func Sign(m *manifest.Manifest, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	_, name, _ := strings.Cut(m.Repo, "/")
	return modelsign.Sign(Files(m), modelsign.Signer{Key: key, Chain: chain}, modelsign.SignOptions{ModelName: name})
}

// Add commits a new revision of m under rev: its files plus
// model.sig holding bundle (replacing one it had). The new revision goes
// through g (nil: not checked) like any import; Cairn manifest signatures
// do not carry over, as the file list changed.
func Add(ctx context.Context, st *store.Store, m *manifest.Manifest, rev string, bundle []byte, g *gate.Gate) (*manifest.Manifest, error) {
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

// LoadKeys reads the PEM public keys trusted for bundles of the key
// method, one file each.
func LoadKeys(paths []string) ([]crypto.PublicKey, error) {
	var out []crypto.PublicKey
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		k, err := modelsign.ParsePublicKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// LoadRoots reads the PEM root certificates trusted for bundles of the
// certificate method.
func LoadRoots(paths []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		certs, err := modelsign.ParseCertificatesPEM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, certs...)
	}
	return out, nil
}
