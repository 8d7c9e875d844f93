package ingest

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/sovereignty"
)

// TestAddObeysPolicy: on a node in FR, with a policy letting only DE hold
// acme/small, add is refused with the rule named and an audit entry; an
// operator override imports and is audited too.
func TestAddObeysPolicy(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
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
	defer audit.Close()
	eng := sovereignty.NewEngine(trust, audit)
	signed, err := sovereignty.SignPolicy(org, []byte("repos:\n  - match: acme/small\n    hold: [DE]\n    receive: [DE]\n  - match: \"*\"\n    hold: [DE, FR]\n    receive: [DE, FR]\n"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Set(signed); err != nil {
		t.Fatal(err)
	}
	self := &sovereignty.Member{PeerID: "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf", Jurisdiction: "FR", Region: "paris"}
	gate := &sovereignty.ImportGate{Engine: eng, Self: self, Audit: audit, Via: "add"}
	dir := modelDir(t)

	_, err = Add(ctx, st, dir, AddOptions{Repo: "acme/small", Policy: gate})
	var re *sovereignty.RefusedError
	if !errors.Is(err, sovereignty.ErrPolicyRefused) || !errors.As(err, &re) {
		t.Fatalf("Add = %v, want a policy refusal", err)
	}
	for _, want := range []string{"acme/small", "FR", "repos[0] acme/small", "not in hold [DE]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not name %q", err, want)
		}
	}
	if refs, _ := st.Refs(ctx, "", ""); len(refs) != 0 {
		t.Errorf("refused add left refs %v", refs)
	}
	if _, err := Add(ctx, st, dir, AddOptions{Repo: "acme/other", Policy: gate}); err != nil {
		t.Errorf("Add of a repo FR may hold = %v", err)
	}
	gate.Force = true
	if _, err := Add(ctx, st, dir, AddOptions{Repo: "acme/small", Policy: gate}); err != nil {
		t.Fatalf("forced Add = %v", err)
	}
	entries, err := sovereignty.Tail(logPath, 10)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range entries {
		kinds = append(kinds, e.Kind+" "+e.Subject+" "+e.Repo)
	}
	got := strings.Join(kinds, "; ")
	want := "policy policy v1 ; deny hold: import via add acme/small; override hold: import via add acme/small"
	if got != want {
		t.Errorf("audit entries = %q, want %q", got, want)
	}
	if entries[1].Peer != self.PeerID || !strings.Contains(entries[1].Reason, "not in hold [DE]") {
		t.Errorf("refusal entry = %+v", entries[1])
	}
	if _, _, err := sovereignty.CheckAudit(logPath); err != nil {
		t.Errorf("audit log: %v", err)
	}
}
