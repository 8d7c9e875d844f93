package ingest

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

const gatePolicy = `repos:
  - match: acme/loose
    hold: ['*']
    receive: ['*']
    scan: warn
  - match: acme/apache-only
    hold: ['*']
    receive: ['*']
    licenses: [apache-2.0]
  - match: "*"
    hold: ['*']
    receive: ['*']
    scan: block
`

type gateEnv struct {
	st      *store.Store
	g       *gate.Gate
	org     ed25519.PrivateKey
	logPath string
}

func newGateEnv(t *testing.T) *gateEnv {
	t.Helper()
	org, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	trust, _ := sovereignty.NewTrust(sovereignty.OrgPublicKey(org))
	logPath := filepath.Join(t.TempDir(), "audit.log")
	audit, err := sovereignty.OpenAudit(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { audit.Close() })
	eng := sovereignty.NewEngine(trust, audit)
	signed, err := sovereignty.SignPolicy(org, []byte(gatePolicy), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Set(signed); err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	return &gateEnv{st: st, org: org, logPath: logPath,
		g: &gate.Gate{Engine: eng, Trust: trust, Records: st, Audit: audit, Via: "add"}}
}

// repoWith makes a model folder holding the files given (name → bytes).
func repoWith(t *testing.T, files map[string][]byte) string {
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFixture(t *testing.T, name string) []byte {
	b, err := os.ReadFile(fixture.Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *gateEnv) auditKinds(t *testing.T) string {
	t.Helper()
	entries, err := sovereignty.Tail(e.logPath, 20)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Kind+" "+en.Repo)
	}
	return strings.Join(out, "; ")
}

// TestAddQuarantinesMaliciousPickle: under scan: block a pytorch_model.bin
// whose pickle calls os.system is committed quarantined with the finding;
// under scan: warn it is committed, recorded and audited as a warning; a
// release signed by another organisation is refused, one signed by the
// trusted organisation lifts the quarantine; each step is audited.
func TestAddQuarantinesMaliciousPickle(t *testing.T) {
	ctx := t.Context()
	e := newGateEnv(t)
	dir := repoWith(t, map[string][]byte{
		"pytorch_model.bin": readFixture(t, "scan/mal_torch_data.pt"),
		"config.json":       []byte(`{"model_type":"llama"}`),
		"README.md":         []byte("---\nlicense: mit\n---\n# bad\n"),
	})
	res, err := Add(ctx, e.st, dir, AddOptions{Repo: "acme/bad", Gate: e.g})
	if err != nil {
		t.Fatal(err)
	}
	commit := res.Manifest.Commit
	if !res.Check.Quarantined() {
		t.Fatalf("malicious revision not quarantined: %+v", res.Check.Verdict)
	}
	if m, err := e.st.Resolve(ctx, manifest.Model, "acme/bad", "main"); err != nil || m.Commit != commit {
		t.Fatalf("quarantined revision not committed: %v", err)
	}
	if q, err := e.st.Quarantined(ctx, manifest.Model, "acme/bad", commit); err != nil || !q {
		t.Fatalf("Quarantined = %v, %v", q, err)
	}
	rec, _, _ := e.st.QuarantineOf(ctx, manifest.Model, "acme/bad", commit)
	reasons := strings.Join(rec.Reasons, "; ")
	if !strings.Contains(reasons, "pytorch_model.bin unsafe") || !strings.Contains(reasons, "os") || rec.Scan != "1 unsafe, 0 unknown, 2 safe" {
		t.Errorf("quarantine record = %+v", rec)
	}
	chk, ok, err := e.st.Check(ctx, manifest.Model, "acme/bad", commit)
	if err != nil || !ok || len(chk.Files) != 3 || chk.Rule != "repos[2] *" || strings.Join(chk.Licences, ",") != "mit" {
		t.Fatalf("check = %+v, %v, %v", chk, ok, err)
	}
	for _, f := range chk.Files {
		if f.Path == "pytorch_model.bin" && (f.Verdict != "unsafe" || len(f.Findings) == 0) {
			t.Errorf("pytorch_model.bin check = %+v", f)
		}
	}

	// The same files under scan: warn.
	res, err = Add(ctx, e.st, dir, AddOptions{Repo: "acme/loose", Gate: e.g})
	if err != nil {
		t.Fatal(err)
	}
	if res.Check.Quarantined() || len(res.Check.Verdict.Warnings) != 1 {
		t.Errorf("warn: verdict %+v", res.Check.Verdict)
	}
	if q, _ := e.st.Quarantined(ctx, manifest.Model, "acme/loose", res.Manifest.Commit); q {
		t.Error("warn: quarantined")
	}
	if chk, ok, _ := e.st.Check(ctx, manifest.Model, "acme/loose", res.Manifest.Commit); !ok || len(chk.Warnings) != 1 {
		t.Errorf("warn: check = %+v", chk)
	}

	// Releases.
	other, _ := sovereignty.GenerateOrgKey()
	rel := sovereignty.Release{Kind: "model", Repo: "acme/bad", Commit: commit, Reason: "reviewed by security"}
	forged, err := sovereignty.SignRelease(other, rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.g.Release(ctx, forged); !errors.Is(err, gate.ErrReleaseRefused) || !errors.Is(err, sovereignty.ErrUntrustedOrg) {
		t.Errorf("untrusted release = %v", err)
	}
	if q, _ := e.st.Quarantined(ctx, manifest.Model, "acme/bad", commit); !q {
		t.Error("an untrusted release lifted the quarantine")
	}
	signed, err := sovereignty.SignRelease(e.org, rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.g.Release(ctx, signed); err != nil {
		t.Fatal(err)
	}
	if q, _ := e.st.Quarantined(ctx, manifest.Model, "acme/bad", commit); q {
		t.Error("still quarantined after a trusted release")
	}
	if rec, _, _ := e.st.QuarantineOf(ctx, manifest.Model, "acme/bad", commit); string(rec.Release) != string(signed) {
		t.Error("the signed release is not stored with the revision")
	}
	want := "policy ; quarantine acme/bad@" + commit + "; scan-warning acme/loose@" + res.Manifest.Commit +
		"; deny acme/bad@" + commit + "; unquarantine acme/bad@" + commit
	if got := e.auditKinds(t); got != want {
		t.Errorf("audit = %s\nwant    %s", got, want)
	}
	if _, _, err := sovereignty.CheckAudit(e.logPath); err != nil {
		t.Errorf("audit log: %v", err)
	}
}

// TestAddQuarantinesLicence: a cc-by-nc-4.0 model under a rule allowing
// apache-2.0 only is quarantined, an apache-2.0 one (from its LICENSE
// text) is not, and one with no licence at all is quarantined.
func TestAddQuarantinesLicence(t *testing.T) {
	ctx := t.Context()
	e := newGateEnv(t)
	safe := readFixture(t, "scan/good.safetensors")
	for _, tc := range []struct {
		files      map[string][]byte
		quarantine bool
		reason     string
	}{
		{map[string][]byte{"model.safetensors": safe, "README.md": []byte("---\nlicense: cc-by-nc-4.0\n---\n")}, true, "licence: cc-by-nc-4.0 not in licenses [apache-2.0]"},
		{map[string][]byte{"model.safetensors": safe, "LICENSE": []byte("\n   Apache License\n   Version 2.0, January 2004\n")}, false, ""},
		{map[string][]byte{"model.safetensors": safe}, true, "licence: none detected"},
	} {
		res, err := Add(ctx, e.st, repoWith(t, tc.files), AddOptions{Repo: "acme/apache-only", Gate: e.g})
		if err != nil {
			t.Fatal(err)
		}
		q, err := e.st.Quarantined(ctx, manifest.Model, "acme/apache-only", res.Manifest.Commit)
		if err != nil || q != tc.quarantine || !strings.Contains(strings.Join(res.Check.Verdict.Reasons, "; "), tc.reason) {
			t.Errorf("Quarantined = %v, %v; verdict %+v", q, err, res.Check.Verdict)
		}
	}
	if got := e.auditKinds(t); strings.Count(got, "quarantine acme/apache-only@") != 2 {
		t.Errorf("audit = %s", got)
	}
}
