package node

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
)

// A manifest whose signature does not verify is refused: the holder does
// not serve it, a puller does not commit it, and both are audited; with
// require_signed, unsigned manifests are refused and signed ones pass.
func TestReplicateProvenance(t *testing.T) {
	if testing.Short() {
		t.Skip("three daemons: not in -short")
	}
	c := newTestCluster(t, fastReplication)
	a := c.add("a", "DE", "mirror")
	b := c.add("b", "DE", "mirror")
	c.waitMesh()

	good := addRepo(t, a.n, "acme/good", 64<<10)
	if err := SignManifest(good, c.org); err != nil {
		t.Fatal(err)
	}
	if err := a.n.Store.Commit(c.ctx, good, "main", nil); err != nil {
		t.Fatal(err)
	}
	bad := addRepo(t, a.n, "acme/bad", 64<<10)
	if err := SignManifest(bad, c.org); err != nil {
		t.Fatal(err)
	}
	bad.Signatures[0].Sig[0] ^= 1
	if err := a.n.Store.Commit(c.ctx, bad, "main", nil); err != nil {
		t.Fatal(err)
	}
	unsigned := addRepo(t, a.n, "acme/unsigned", 64<<10)

	if _, err := b.d.Pull(c.ctx, manifest.Model, "acme/good", "main", PullOptions{}); err != nil {
		t.Errorf("Pull(signed) = %v", err)
	}
	if m, err := b.n.Store.Resolve(c.ctx, manifest.Model, "acme/good", "main"); err != nil || len(m.Signatures) != 1 {
		t.Errorf("pulled signed manifest = %+v, %v; want its signature kept", m, err)
	}
	if _, err := b.d.Pull(c.ctx, manifest.Model, "acme/unsigned", "main", PullOptions{}); err != nil {
		t.Errorf("Pull(unsigned) with the default config = %v", err)
	}
	_, err := b.d.Pull(c.ctx, manifest.Model, "acme/bad", "main", PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("Pull(bad signature) = %v, want a refusal naming the signature", err)
	}
	if _, err := b.n.Store.Resolve(c.ctx, manifest.Model, "acme/bad", "main"); err == nil {
		t.Error("the badly signed revision was committed")
	}
	if es := auditEntries(t, a, "provenance"); len(es) == 0 || es[0].Repo != "acme/bad@"+bad.Commit {
		t.Errorf("holder's provenance entries = %+v, want the refusal to serve acme/bad", es)
	}

	// A node requiring signatures: unsigned refused (audited on that
	// node, the puller), signed accepted.
	strict := c.addWith("strict", "DE", ClusterConfig{Replication: fastReplication, Provenance: ProvenanceConfig{RequireSigned: true}}, "mirror")
	c.waitMesh()
	_, err = strict.d.Pull(c.ctx, manifest.Model, "acme/unsigned", "main", PullOptions{})
	if !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "not signed by a trusted publisher") {
		t.Errorf("strict Pull(unsigned) = %v, want refused: not signed", err)
	}
	if es := auditEntries(t, strict, "provenance"); len(es) == 0 {
		t.Error("strict node did not audit the unsigned manifest")
	}
	if _, err := strict.d.Pull(c.ctx, manifest.Model, "acme/good", "main", PullOptions{}); err != nil {
		t.Errorf("strict Pull(signed by the org) = %v", err)
	}
	_ = unsigned
}

func TestVerifyManifest(t *testing.T) {
	k1, _ := sovereignty.GenerateOrgKey()
	k2, _ := sovereignty.GenerateOrgKey()
	base := &manifest.Manifest{Version: 1, Type: manifest.Model, Repo: "acme/m", Commit: strings.Repeat("ab", 20), Created: time.UnixMilli(1).UTC(), Files: []manifest.File{}}
	base.Root = mustCID(t)
	signed := func(keys ...ed25519.PrivateKey) *manifest.Manifest {
		m := *base
		m.Signatures = nil
		for _, k := range keys {
			if err := SignManifest(&m, k); err != nil {
				t.Fatal(err)
			}
		}
		return &m
	}
	tampered := signed(k1)
	tampered.Repo = "acme/other"
	pubs := []ed25519.PublicKey{sovereignty.OrgPublicKey(k1)}
	for _, tt := range []struct {
		name    string
		m       *manifest.Manifest
		require bool
		signers int
		err     string
	}{
		{"unsigned accepted", signed(), false, 0, ""},
		{"unsigned required", signed(), true, 0, "not signed by a trusted publisher"},
		{"publisher", signed(k1), true, 1, ""},
		{"other key only", signed(k2), true, 0, "not signed by a trusted publisher"},
		{"other key accepted unsigned-like", signed(k2), false, 0, ""},
		{"both", signed(k1, k2), true, 1, ""},
		{"tampered", tampered, false, 0, "does not verify"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := VerifyManifest(tt.m, pubs, tt.require)
			if tt.err == "" {
				if err != nil || len(s) != tt.signers {
					t.Errorf("VerifyManifest = %v, %v; want %d signers", s, err, tt.signers)
				}
				return
			}
			if !errors.Is(err, ErrProvenance) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("VerifyManifest = %v, want ErrProvenance naming %q", err, tt.err)
			}
		})
	}
	// Re-signing with the same key replaces the signature.
	m := signed(k1)
	SignManifest(m, k1)
	if len(m.Signatures) != 1 {
		t.Errorf("re-signed: %d signatures, want 1", len(m.Signatures))
	}
	if _, err := m.Encode(); err != nil {
		t.Errorf("signed manifest does not encode: %v", err)
	}
}

func mustCID(t *testing.T) cid.Cid {
	t.Helper()
	h, err := multihash.Sum([]byte("root"), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagProtobuf, h)
}

func TestClusterConfig(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, err string
	}{
		{"empty", "", ""},
		{"full", "replication:\n  grace: 2s\n  interval: 1s\n  replicas: 3\n  capacity: 1000\nprovenance:\n  require_signed: true\n", ""},
		{"unknown key", "replication:\n  nope: 1\n", "nope"},
		{"negative grace", "replication:\n  grace: -1s\n", "grace"},
		{"bad publisher", "provenance:\n  publishers: [xyz]\n", "publishers[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			os.WriteFile(filepath.Join(home, ConfigFile), []byte(tt.yaml), 0o644)
			_, err := LoadClusterConfig(home)
			if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("LoadClusterConfig(%q) = %v, want error naming %q", tt.yaml, err, tt.err)
			}
		})
	}
}
