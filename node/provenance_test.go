package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/config"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/pull"
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
	if err := sovereignty.SignManifest(good, c.org); err != nil {
		t.Fatal(err)
	}
	if err := a.n.Store.Commit(c.ctx, good, "main", nil); err != nil {
		t.Fatal(err)
	}
	bad := addRepo(t, a.n, "acme/bad", 64<<10)
	if err := sovereignty.SignManifest(bad, c.org); err != nil {
		t.Fatal(err)
	}
	bad.Signatures[0].Sig[0] ^= 1
	if err := a.n.Store.Commit(c.ctx, bad, "main", nil); err != nil {
		t.Fatal(err)
	}
	unsigned := addRepo(t, a.n, "acme/unsigned", 64<<10)

	if _, err := b.d.Pull(c.ctx, manifest.Model, "acme/good", "main", pull.Options{}); err != nil {
		t.Errorf("Pull(signed) = %v", err)
	}
	if m, err := b.n.Store.Resolve(c.ctx, manifest.Model, "acme/good", "main"); err != nil || len(m.Signatures) != 1 {
		t.Errorf("pulled signed manifest = %+v, %v; want its signature kept", m, err)
	}
	if _, err := b.d.Pull(c.ctx, manifest.Model, "acme/unsigned", "main", pull.Options{}); err != nil {
		t.Errorf("Pull(unsigned) with the default config = %v", err)
	}
	_, err := b.d.Pull(c.ctx, manifest.Model, "acme/bad", "main", pull.Options{})
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
	strict := c.addWith("strict", "DE", config.Cluster{Replication: fastReplication, Provenance: config.Provenance{RequireSigned: true}}, "mirror")
	c.waitMesh()
	_, err = strict.d.Pull(c.ctx, manifest.Model, "acme/unsigned", "main", pull.Options{})
	if !errors.Is(err, pull.ErrNoSource) || !strings.Contains(err.Error(), "not signed by a trusted publisher") {
		t.Errorf("strict Pull(unsigned) = %v, want refused: not signed", err)
	}
	if es := auditEntries(t, strict, "provenance"); len(es) == 0 {
		t.Error("strict node did not audit the unsigned manifest")
	}
	if _, err := strict.d.Pull(c.ctx, manifest.Model, "acme/good", "main", pull.Options{}); err != nil {
		t.Errorf("strict Pull(signed by the org) = %v", err)
	}
	_ = unsigned
}
