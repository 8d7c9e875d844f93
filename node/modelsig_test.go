package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnhub/cairn/config"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/modelsign"
	"github.com/cairnhub/cairn/modelsign/revsign"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/sovereignty"
)

// writePubPEM writes k's public key as a PEM file and returns its path.
func writePubPEM(t *testing.T, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pub.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRequireSignedAcceptsModelSig: under provenance.require_signed a
// member pulls a revision whose only signature is an OpenSSF model.sig
// by a trusted key, and refuses one signed by another key or unsigned.
func TestRequireSignedAcceptsModelSig(t *testing.T) {
	if testing.Short() {
		t.Skip("several daemons: not in -short")
	}
	trusted, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, fastReplication)
	a := c.add("a", "DE", "mirror")
	b := c.addWith("b", "DE", config.Cluster{Replication: fastReplication,
		Provenance: config.Provenance{RequireSigned: true, SigningKeys: []string{writePubPEM(t, trusted)}}}, "mirror")
	c.waitMesh()

	sign := func(repo string, k *ecdsa.PrivateKey) *manifest.Manifest {
		m := addRepo(t, a.n, repo, 4096)
		bundle, err := revsign.Sign(m, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		g, err := a.d.Gate("sign")
		if err != nil {
			t.Fatal(err)
		}
		s, err := revsign.Add(t.Context(), a.n.Store, m, "main", bundle, g)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.File(modelsign.SignatureFile); !ok || s.Commit == m.Commit {
			t.Fatalf("signed revision %+v", s)
		}
		return s
	}
	good := sign("acme/good", trusted)
	bad := sign("acme/bad", other)
	addRepo(t, a.n, "acme/unsigned", 4096)

	if _, err := b.d.Pull(t.Context(), manifest.Model, "acme/good", "main", pull.Options{}); err != nil {
		t.Fatalf("pull of a revision with a trusted model.sig: %v", err)
	}
	if !b.holds("acme/good", good.Commit) {
		t.Fatal("b lacks acme/good")
	}
	for _, repo := range []string{"acme/bad", "acme/unsigned"} {
		if _, err := b.d.Pull(t.Context(), manifest.Model, repo, "main", pull.Options{}); !errors.Is(err, sovereignty.ErrProvenance) && !errors.Is(err, pull.ErrNoSource) {
			t.Fatalf("pull of %s under require_signed: %v", repo, err)
		}
	}
	if b.holds("acme/bad", bad.Commit) {
		t.Fatal("b holds a revision signed by an untrusted key")
	}
	// The bundle Cairn wrote verifies with modelsign on its own.
	if _, found, err := revsign.Verify(t.Context(), a.n.Store, good, mustTrust(t, writePubPEM(t, trusted))); !found || err != nil {
		t.Fatalf("verify: found %v, %v", found, err)
	}
}

func mustTrust(t *testing.T, pub string) modelsign.VerifyOptions {
	t.Helper()
	o, err := config.Provenance{SigningKeys: []string{pub}}.ModelSigTrust()
	if err != nil {
		t.Fatal(err)
	}
	return o
}
