package mirror

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

func gateFiles(t *testing.T, bin string) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(fixture.Path(t, bin))
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"pytorch_model.bin": b, "config.json": []byte(`{"model_type":"llama"}`),
		"README.md": []byte("---\nlicense: apache-2.0\n---\n")}
}

func checkQuarantine(t *testing.T, st *store.Store, m *manifest.Manifest, want bool) {
	t.Helper()
	q, err := st.Quarantined(t.Context(), m.Type, m.Repo, m.Commit)
	if err != nil || q != want {
		t.Errorf("%s: Quarantined = %v, %v; want %v", m.Repo, q, err, want)
	}
	c, ok, err := st.Check(t.Context(), m.Type, m.Repo, m.Commit)
	if err != nil || !ok || len(c.Files) != len(m.Files) || len(c.Licences) != 1 || c.Licences[0] != "apache-2.0" {
		t.Errorf("%s: check = %+v, %v, %v", m.Repo, c, ok, err)
	}
}

// TestMirrorGate: a mirrored revision holding a malicious pickle is
// committed quarantined (scanned through the store), a benign one is not.
func TestMirrorGate(t *testing.T) {
	u := newUpstream(t)
	add(t, u.st, manifest.Model, "acme/bad", "main", gateFiles(t, "scan/mal_torch_data.pt"))
	add(t, u.st, manifest.Model, "acme/good", "main", gateFiles(t, "scan/benign_torch.pt"))
	st := openStore(t)
	for repo, want := range map[string]bool{"acme/bad": true, "acme/good": false} {
		o := opts(t, u)
		o.Gate = &gate.Gate{Records: st, Via: "mirror"}
		res, err := Mirror(t.Context(), st, repo, o)
		if err != nil {
			t.Fatalf("Mirror(%s) = %v", repo, err)
		}
		if res.Check.Quarantined() != want {
			t.Errorf("Mirror(%s) verdict = %+v", repo, res.Check.Verdict)
		}
		m, err := st.Resolve(t.Context(), manifest.Model, repo, "main")
		if err != nil {
			t.Fatalf("%s not committed: %v", repo, err)
		}
		checkQuarantine(t, st, m, want)
	}
}

// TestBundleImportGate: the same through a bundle; the imported revisions
// say which one was quarantined.
func TestBundleImportGate(t *testing.T) {
	a := openStore(t)
	bad := add(t, a, manifest.Model, "acme/bad", "main", gateFiles(t, "scan/mal_torch_hidden_member.pt"))
	good := add(t, a, manifest.Model, "acme/good", "main", gateFiles(t, "scan/benign_torch.pt"))
	b, _ := exportBytes(t, a, []Rev{{manifest.Model, "acme/bad", "main"}, {manifest.Model, "acme/good", "main"}}, ExportOptions{})
	dst := openStore(t)
	res, err := Import(t.Context(), dst, bytes.NewReader(b), ImportOptions{Gate: &gate.Gate{Records: dst, Via: "bundle import"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, rv := range res.Revisions {
		if rv.Quarantined != (rv.Repo == "acme/bad") {
			t.Errorf("imported %s quarantined = %v", rv.Repo, rv.Quarantined)
		}
	}
	checkQuarantine(t, dst, bad, true)
	checkQuarantine(t, dst, good, false)

	// A quarantined revision is not exported; once released it is, with
	// its release, which the next site verifies and applies.
	var buf bytes.Buffer
	badRev := []Rev{{manifest.Model, "acme/bad", "main"}}
	if _, err := Export(t.Context(), dst, &buf, badRev, ExportOptions{}); !errors.Is(err, ErrQuarantined) || !strings.Contains(err.Error(), "pytorch_model.bin unsafe") {
		t.Fatalf("Export(quarantined) = %v", err)
	}
	org, _ := sovereignty.GenerateOrgKey()
	trust, _ := sovereignty.NewTrust(sovereignty.OrgPublicKey(org))
	signed, err := sovereignty.SignRelease(org, sovereignty.Release{Kind: "model", Repo: "acme/bad", Commit: bad.Commit, Reason: "research sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&gate.Gate{Records: dst, Trust: trust}).Release(t.Context(), signed); err != nil {
		t.Fatal(err)
	}
	b, _ = exportBytes(t, dst, badRev, ExportOptions{})
	otherOrg, _ := sovereignty.GenerateOrgKey()
	otherTrust, _ := sovereignty.NewTrust(sovereignty.OrgPublicKey(otherOrg))
	for name, tr := range map[string]*sovereignty.Trust{"trusting": trust, "other org": otherTrust} {
		next := openStore(t)
		g := &gate.Gate{Records: next, Trust: tr, Via: "bundle import"}
		if _, err := Import(t.Context(), next, bytes.NewReader(b), ImportOptions{Gate: g}); err != nil {
			t.Fatalf("%s: import of a released revision: %v", name, err)
		}
		q, _, _ := next.QuarantineOf(t.Context(), manifest.Model, "acme/bad", bad.Commit)
		if q.InForce() != (tr == otherTrust) {
			t.Errorf("%s: quarantine in force = %v", name, q.InForce())
		}
	}
}
