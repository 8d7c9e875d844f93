package cli

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/node"
	"github.com/cairnhub/cairn/sovereignty"
)

// joinedHome initialises a home whose certificate says jurisdiction juris
// and, when policy is not empty, saves that policy signed by the org.
func joinedHome(t *testing.T, org []byte, juris, policy string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "home-"+juris)
	if code, _, errs := run(t, dir, "init"); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	n, err := node.LoadHome(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := sovereignty.Issue(org, sovereignty.Certificate{Org: "acme", PeerID: n.ID.String(), Region: "r1",
		Jurisdiction: juris, Roles: []string{"mirror"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Join(cert, sovereignty.FormatOrgPublicKey(sovereignty.OrgPublicKey(org))); err != nil {
		t.Fatal(err)
	}
	if policy != "" {
		signed, err := sovereignty.SignPolicy(org, []byte(policy), 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, home.PolicyFile), signed, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const onlyDEHoldsSmall = `
repos:
  - match: "acme/small"
    hold: [DE]
    receive: [DE]
    export_bundles: true
  - match: "*"
    hold: ["*"]
    receive: ["*"]
    export_bundles: true
`

// On a node whose certificate says FR, with a policy that lets only DE
// hold acme/small: add and bundle import of it exit non-zero naming the
// rule and are audited; --force imports and is audited as an override.
// Every command opens the audit log with the node key, so each one after
// a sealed (cleanly closed) log still appends, and the log verifies.
func TestImportsObeyPolicyAndAuditResistsRewriting(t *testing.T) {
	org, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	fr := joinedHome(t, org, "FR", onlyDEHoldsSmall)
	de := joinedHome(t, org, "DE", onlyDEHoldsSmall)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "weights.bin"), bytes.Repeat([]byte("small"), 50_000), 0o644)

	code, _, errs := run(t, fr, "add", src, "--repo", "acme/small")
	if code == 0 || !strings.Contains(errs, "acme/small") || !strings.Contains(errs, "FR") {
		t.Fatalf("add on FR = exit %d, %q; want a refusal naming the repo and FR", code, errs)
	}
	if code, out, _ := run(t, fr, "ls"); code != 0 || strings.Contains(out, "acme/small") {
		t.Fatalf("after the refusal ls = %q", out)
	}
	if code, _, errs := run(t, de, "add", src, "--repo", "acme/small"); code != 0 {
		t.Fatalf("add on DE: %s", errs)
	}
	bundle := filepath.Join(t.TempDir(), "small.car")
	if code, _, errs := run(t, de, "bundle", "export", "acme/small", "-o", bundle, "-q"); code != 0 {
		t.Fatalf("bundle export on DE: %s", errs)
	}
	code, _, errs = run(t, fr, "bundle", "import", bundle, "-q")
	if code == 0 || !strings.Contains(errs, "acme/small") {
		t.Fatalf("bundle import on FR = exit %d, %q; want a refusal", code, errs)
	}
	if code, out, _ := run(t, fr, "ls"); code != 0 || strings.Contains(out, "acme/small") {
		t.Fatalf("after the bundle refusal ls = %q", out)
	}
	if code, _, errs := run(t, fr, "bundle", "import", bundle, "-q", "--force"); code != 0 {
		t.Fatalf("bundle import --force: %s", errs)
	}
	if code, _, errs := run(t, fr, "add", src, "--repo", "acme/small", "--force"); code != 0 {
		t.Fatalf("add --force: %s", errs)
	}
	kinds := map[string]int{}
	for _, e := range auditLines(t, fr) {
		kinds[e.Kind]++
	}
	if kinds[sovereignty.KindDeny] < 2 || kinds[sovereignty.KindOverride] != 2 || kinds[sovereignty.KindCheckpoint] < 4 {
		t.Errorf("FR audit kinds = %v; want 2 denials, 2 overrides, a final checkpoint per command", kinds)
	}
	if code, out, errs := run(t, fr, "audit", "verify"); code != 0 || !strings.Contains(out, "sealed") {
		t.Fatalf("audit verify = %d %q %q", code, out, errs)
	}

	log := filepath.Join(fr, home.AuditFile)
	pristine, _ := os.ReadFile(log)
	sidecar, _ := os.ReadFile(log + ".checkpoint")
	restore := func() {
		os.WriteFile(log, pristine, 0o600)
		os.WriteFile(log+".checkpoint", sidecar, 0o600)
	}
	lines := bytes.SplitAfter(bytes.TrimSuffix(pristine, []byte("\n")), []byte("\n"))
	for name, tamper := range map[string]func(){
		"truncated": func() { os.WriteFile(log, bytes.Join(lines[:len(lines)-2], nil), 0o600) },
		"forged append": func() {
			es := auditLines(t, fr)
			os.WriteFile(log, append(pristine, forge(t, es[len(es)-1], "override", "acme/small")...), 0o600)
		},
		"rewritten chain": func() {
			// Every denial dropped, the whole chain recomputed, the sidecar
			// gone: only the signed checkpoints left in it disagree.
			var out []byte
			var prev *sovereignty.Entry
			for _, e := range auditLines(t, fr) {
				if e.Kind == sovereignty.KindDeny {
					continue
				}
				line := rechain(t, prev, e)
				var ne sovereignty.Entry
				json.Unmarshal(line, &ne)
				ne.Hash = lineHashOf(bytes.TrimSuffix(line, []byte("\n")))
				prev = &ne
				out = append(out, line...)
			}
			os.WriteFile(log, out, 0o600)
			os.Remove(log + ".checkpoint")
		},
		"re-signed with another key": func() {
			// A new log without the denials, checkpointed by a key that is
			// not the node's.
			os.Remove(log)
			os.Remove(log + ".checkpoint")
			_, k, _ := ed25519.GenerateKey(nil)
			a, err := sovereignty.OpenAuditWith(log, sovereignty.AuditOptions{Signer: sovereignty.KeySigner(k), Node: nodeID(t, fr)})
			if err != nil {
				t.Fatal(err)
			}
			a.Append(sovereignty.Entry{Kind: sovereignty.KindExport, Subject: "bundle", Repo: "acme/other"})
			a.Close()
		},
	} {
		tamper()
		code, out, errs := run(t, fr, "audit", "verify")
		if code == 0 {
			t.Errorf("%s: audit verify exit 0: %s", name, out)
		}
		t.Logf("%s: %s", name, errs)
		restore()
	}
	if code, _, errs := run(t, fr, "audit", "verify"); code != 0 {
		t.Fatalf("restored log: %s", errs)
	}
}

func auditLines(t *testing.T, dir string) []sovereignty.Entry {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, home.AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var es []sovereignty.Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e sovereignty.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

func lineHashOf(line []byte) string {
	s := sha256.Sum256(line)
	return hex.EncodeToString(s[:])
}

// forge builds the line an attacker without the node key appends after
// last: seq, prev and hash recomputed as the log's writer would.
func forge(t *testing.T, last sovereignty.Entry, kind, repo string) []byte {
	t.Helper()
	b, _ := json.Marshal(last)
	last.Hash = lineHashOf(b)
	return rechain(t, &last, sovereignty.Entry{Kind: kind, Subject: "forged", Repo: repo, Time: time.Now().UTC()})
}

func nodeID(t *testing.T, dir string) string {
	t.Helper()
	n, err := node.LoadHome(dir)
	if err != nil {
		t.Fatal(err)
	}
	return n.ID.String()
}

// rechain chains e after prev (whose Hash field holds its line hash here).
func rechain(t *testing.T, prev *sovereignty.Entry, e sovereignty.Entry) []byte {
	t.Helper()
	e.Seq, e.Prev = 1, strings.Repeat("0", 64)
	if prev != nil {
		e.Seq, e.Prev = prev.Seq+1, prev.Hash
	}
	e.Hash = ""
	b, _ := json.Marshal(e)
	e.Hash = lineHashOf(b)
	line, _ := json.Marshal(e)
	return append(line, '\n')
}
