package home

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
)

func initHome(t *testing.T) *Home {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "h")
	id, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Load(dir)
	if err != nil || h.ID != id {
		t.Fatalf("Load = %v, %v; want the identity Init made (%s)", h, err, id)
	}
	return h
}

func TestInitAndLoad(t *testing.T) {
	h := initHome(t)
	if _, err := Init(h.Dir); !errors.Is(err, ErrHomeExists) {
		t.Fatalf("second Init = %v, want ErrHomeExists", err)
	}
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoHome) {
		t.Fatalf("Load(empty folder) = %v, want ErrNoHome", err)
	}
	if cert, err := h.Certificate(); cert != nil || err != nil {
		t.Fatalf("Certificate before joining = %q, %v; want none", cert, err)
	}
}

func TestJoinTrustAndRevocations(t *testing.T) {
	h := initHome(t)
	org, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := sovereignty.FormatOrgPublicKey(sovereignty.OrgPublicKey(org))
	issue := func(peerID string) []byte {
		b, err := sovereignty.Issue(org, sovereignty.Certificate{Org: "acme", PeerID: peerID, Region: "r-de", Jurisdiction: "DE", Roles: []string{"edge"}, Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	other := initHome(t)
	if _, err := h.Join(issue(other.ID.String()), pub); err == nil {
		t.Fatal("joined with a certificate naming another peer")
	}
	if _, err := os.Stat(filepath.Join(h.Dir, CertFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused join wrote the certificate: %v", err)
	}
	m, err := h.Join(issue(h.ID.String()), pub)
	if err != nil || m.Jurisdiction != "DE" {
		t.Fatalf("Join = %+v, %v", m, err)
	}
	trust, err := h.Trust()
	if err != nil || len(trust.Orgs()) != 1 {
		t.Fatalf("Trust after joining: %v orgs, %v", trust, err)
	}
	if e, err := h.PolicyEngine(trust, nil); err != nil || e == nil {
		t.Fatalf("PolicyEngine without a policy file = %v, %v", e, err)
	}
	if err := h.SaveRevocations([]byte("not signed")); err == nil {
		t.Fatal("saved a revocation list that does not parse")
	}
	if signed, err := h.SignedPolicy(); signed != nil || err != nil {
		t.Fatalf("SignedPolicy without one = %q, %v", signed, err)
	}
}

func TestAuditLogSignedWithTheIdentity(t *testing.T) {
	h := initHome(t)
	a, err := h.OpenAudit()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Append(sovereignty.Entry{Kind: "test", Repo: "acme/x", Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := h.VerifyAudit(nil)
	if err != nil {
		t.Fatalf("VerifyAudit = %+v, %v", rep, err)
	}
	// Another node's key does not verify this log.
	other := initHome(t)
	if err := os.Rename(filepath.Join(h.Dir, AuditFile), filepath.Join(other.Dir, AuditFile)); err != nil {
		t.Fatal(err)
	}
	if rep, err := other.VerifyAudit(nil); err == nil {
		t.Fatalf("a log signed by another key verified: %+v", rep)
	}
}
