package node

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/sovereignty"
)

const gatePolicy = `
repos:
  - match: "acme/evil"
    hold: [DE]
    receive: [DE]
    scan: block
  - match: "acme/nc"
    hold: [DE]
    receive: [DE]
    licenses: [apache-2.0]
  - match: "*"
    hold: [DE]
    receive: [DE]
`

// gatedAdd imports dir as repo on tn through the daemon's gate.
func gatedAdd(t *testing.T, tn *testNode, dir, repo string) *ingest.AddResult {
	t.Helper()
	g, err := tn.d.Gate("add")
	if err != nil {
		t.Fatal(err)
	}
	res, err := ingest.Add(t.Context(), tn.n.Store, dir, ingest.AddOptions{Repo: repo, Gate: g})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func writeFiles(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func hfGet(t *testing.T, tn *testNode, path string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Get("http://" + tn.d.HTTPAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// TestQuarantineThroughDaemons: a malicious pickle under scan: block and
// a cc-by-nc-4.0 model under a policy allowing apache-2.0 only are
// committed quarantined; neither is served over the HF API nor pulled by
// a peer; a signed release lifts the second; the audit log has both.
func TestQuarantineThroughDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("several daemons: not in -short")
	}
	mal, err := os.ReadFile(fixture.Path(t, "scan/mal_torch_data.pt"))
	if err != nil {
		t.Fatal(err)
	}
	c := newTestCluster(t, fastReplication)
	a := c.add("a", "DE", "mirror")
	b := c.add("b", "DE", "mirror")
	c.waitMesh()
	c.setPolicy(a, gatePolicy, 1)

	evil := gatedAdd(t, a, writeFiles(t, map[string][]byte{"pytorch_model.bin": mal, "config.json": []byte(`{"model_type":"llama"}`)}), "acme/evil")
	if !evil.Check.Quarantined() || !strings.Contains(strings.Join(evil.Check.Verdict.Reasons, ";"), "pytorch_model.bin") {
		t.Fatalf("malicious pickle not quarantined: %+v", evil.Check)
	}
	nc := gatedAdd(t, a, writeFiles(t, map[string][]byte{"README.md": []byte("---\nlicense: cc-by-nc-4.0\n---\n# x\n"), "config.json": []byte(`{}`)}), "acme/nc")
	if !nc.Check.Quarantined() || !strings.Contains(strings.Join(nc.Check.Verdict.Reasons, ";"), "cc-by-nc-4.0") {
		t.Fatalf("cc-by-nc-4.0 not quarantined: %+v", nc.Check)
	}
	clean := gatedAdd(t, a, writeFiles(t, map[string][]byte{"config.json": []byte(`{}`)}), "acme/clean")
	if clean.Check.Quarantined() {
		t.Fatalf("clean repo quarantined: %+v", clean.Check)
	}

	for _, p := range []string{"/acme/evil/resolve/main/pytorch_model.bin", "/api/models/acme/evil", "/acme/nc/resolve/main/README.md"} {
		code, h, body := hfGet(t, a, p)
		if code != http.StatusUnavailableForLegalReasons || h.Get("X-Error-Code") != "Quarantined" || !strings.Contains(body, "quarantined") {
			t.Errorf("GET %s: %d %s %q, want 451 Quarantined", p, code, h.Get("X-Error-Code"), body)
		}
	}
	if code, _, _ := hfGet(t, a, "/acme/clean/resolve/main/config.json"); code != http.StatusOK {
		t.Errorf("clean repo: %d", code)
	}
	// The scan result is in the HF API's file info, as the Hub gives it.
	if code, _, body := hfGet(t, a, "/api/models/acme/clean/tree/main?expand=true"); code != http.StatusOK ||
		!strings.Contains(body, `"securityFileStatus":{"status":"safe","avScan":null,"pickleImportScan":{"highestSafetyLevel":"innocuous"}}`) {
		t.Errorf("tree with expand: %d %s", code, body)
	}

	// Not replicated: the peer finds no source, and holds nothing.
	if _, err := b.d.Pull(t.Context(), manifest.Model, "acme/evil", "main", pull.Options{}); !errors.Is(err, pull.ErrNoSource) {
		t.Fatalf("peer pull of a quarantined revision: %v, want pull.ErrNoSource", err)
	}
	if b.holds("acme/evil", evil.Manifest.Commit) {
		t.Fatal("peer holds the quarantined revision")
	}
	if _, err := b.d.Pull(t.Context(), manifest.Model, "acme/clean", "main", pull.Options{}); err != nil {
		t.Fatalf("peer pull of a clean revision: %v", err)
	}

	// The release lifts the licence quarantine; a release by another
	// organisation's key is refused.
	rel := sovereignty.Release{Kind: "model", Repo: "acme/nc", Commit: nc.Manifest.Commit, Reason: "reviewed"}
	other, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.d.Gate("release")
	if err != nil {
		t.Fatal(err)
	}
	forged, err := sovereignty.SignRelease(other, rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Release(t.Context(), forged); err == nil {
		t.Fatal("release signed by an untrusted key accepted")
	}
	signed, err := sovereignty.SignRelease(c.org, rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Release(t.Context(), signed); err != nil {
		t.Fatal(err)
	}
	if code, _, body := hfGet(t, a, "/acme/nc/resolve/main/README.md"); code != http.StatusOK {
		t.Fatalf("released repo: %d %s", code, body)
	}
	if code, _, _ := hfGet(t, a, "/acme/evil/resolve/main/pytorch_model.bin"); code != http.StatusUnavailableForLegalReasons {
		t.Fatalf("the other quarantine was lifted too: %d", code)
	}

	// The release travels: the peer's gate quarantines the pulled
	// revision under the same policy, and the source's release lifts it.
	if _, err := b.d.Pull(t.Context(), manifest.Model, "acme/nc", "main", pull.Options{}); err != nil {
		t.Fatalf("peer pull of a released revision: %v", err)
	}
	if qd, err := b.n.Store.Quarantined(t.Context(), manifest.Model, "acme/nc", nc.Manifest.Commit); err != nil || qd {
		t.Fatalf("released revision quarantined on the peer: %v %v", qd, err)
	}
	if len(auditEntries(t, b, sovereignty.KindUnquarantine)) != 1 {
		t.Fatal("the peer did not audit the release it applied")
	}

	q := auditEntries(t, a, sovereignty.KindQuarantine)
	un := auditEntries(t, a, sovereignty.KindUnquarantine)
	has := func(es []sovereignty.Entry, repo string) bool {
		for _, e := range es {
			if strings.HasPrefix(e.Repo, repo+"@") {
				return true
			}
		}
		return false
	}
	if !has(q, "acme/evil") || !has(q, "acme/nc") || !has(un, "acme/nc") || has(un, "acme/evil") {
		t.Fatalf("audit: quarantines %+v, releases %+v", q, un)
	}
}
