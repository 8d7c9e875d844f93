package sovereignty

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

const peerA = "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"
const peerB = "12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK"

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	k, err := GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func baseCert() Certificate {
	return Certificate{
		Org: "acme", PeerID: peerA, Region: "eu-central", Jurisdiction: "DE",
		Roles: []string{"mirror", "edge", "mirror"}, Serial: "s1",
		NotBefore: t0, Expires: t0.Add(365 * 24 * time.Hour),
	}
}

func issue(t testing.TB, k ed25519.PrivateKey, c Certificate) []byte {
	t.Helper()
	b, err := Issue(k, c)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return b
}

func TestIssueParseVerify(t *testing.T) {
	k := newKey(t)
	b := issue(t, k, baseCert())
	c, err := ParseCertificate(b)
	if err != nil {
		t.Fatalf("ParseCertificate: %v\n%s", err, b)
	}
	if got := strings.Join(c.Roles, ","); got != "edge,mirror" {
		t.Errorf("roles = %q, want edge,mirror", got)
	}
	if !bytes.Equal(c.Marshal(), b) {
		t.Errorf("Marshal(Parse(b)) != b")
	}
	b2 := issue(t, k, baseCert())
	if !bytes.Equal(b, b2) {
		t.Errorf("Issue not deterministic:\n%s\n%s", b, b2)
	}
	tr, err := NewTrust(OrgPublicKey(k))
	if err != nil {
		t.Fatal(err)
	}
	m, err := tr.Verify(c, peerA, t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if m.PeerID != peerA || m.Org != "acme" || m.Jurisdiction != "DE" || m.Region != "eu-central" || !m.HasRole("edge") || !m.Expires.Equal(c.Expires) {
		t.Errorf("member = %+v", m)
	}
	if _, err := tr.VerifyBytes(b, peerA, t0); err != nil {
		t.Errorf("VerifyBytes at not-before: %v", err)
	}
}

func TestVerifyErrors(t *testing.T) {
	k := newKey(t)
	other := newKey(t)
	tr, _ := NewTrust(OrgPublicKey(k))
	good := issue(t, k, baseCert())

	revoked := baseCert()
	revoked.Serial = "revoked-1"
	rl, err := SignRevocations(k, Revocations{Org: "acme", Version: 1, Serials: []string{"revoked-1"}, Issued: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.AddRevocations(rl); err != nil {
		t.Fatal(err)
	}
	// A tampered byte inside a field value keeps the syntax valid.
	tampered := bytes.Replace(good, []byte("region: eu-central"), []byte("region: eu-centrak"), 1)
	// A different org's key in the cert with the original signature.
	swapped := bytes.Replace(good, []byte(FormatOrgPublicKey(OrgPublicKey(k))), []byte(FormatOrgPublicKey(OrgPublicKey(other))), 1)

	tests := []struct {
		name string
		cert []byte
		peer string
		now  time.Time
		want error
	}{
		{"valid", good, peerA, t0.Add(time.Hour), nil},
		{"expired", good, peerA, t0.Add(366 * 24 * time.Hour), ErrExpired},
		{"expiry instant", good, peerA, t0.Add(365 * 24 * time.Hour), ErrExpired},
		{"not yet valid", good, peerA, t0.Add(-time.Second), ErrNotYetValid},
		{"wrong peer", good, peerB, t0.Add(time.Hour), ErrWrongPeer},
		{"untrusted org", issue(t, other, baseCert()), peerA, t0.Add(time.Hour), ErrUntrustedOrg},
		{"org key swapped", swapped, peerA, t0.Add(time.Hour), ErrUntrustedOrg},
		{"tampered byte", tampered, peerA, t0.Add(time.Hour), ErrBadSignature},
		{"revoked", issue(t, k, revoked), peerA, t0.Add(time.Hour), ErrRevoked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tr.VerifyBytes(tc.cert, tc.peer, tc.now)
			if tc.want == nil {
				if err != nil || m == nil {
					t.Fatalf("VerifyBytes = %v, %v, want member", m, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || m != nil {
				t.Fatalf("VerifyBytes = %v, %v, want %v", m, err, tc.want)
			}
		})
	}
	// Swapping the org key to another trusted key must fail on the signature.
	tr2, _ := NewTrust(OrgPublicKey(k), OrgPublicKey(other))
	if _, err := tr2.VerifyBytes(swapped, peerA, t0.Add(time.Hour)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyBytes(swapped key, both trusted) = %v, want ErrBadSignature", err)
	}
}

func TestParseCertificateErrors(t *testing.T) {
	k := newKey(t)
	good := string(issue(t, k, baseCert()))
	repl := func(old, new string) []byte { return []byte(strings.Replace(good, old, new, 1)) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"too large", bytes.Repeat([]byte("a"), MaxCertificateSize+1), ErrTooLarge},
		{"bad header", repl("cairn-cert-v1", "cairn-cert-v2"), ErrMalformed},
		{"unknown field", repl("region:", "regio:"), ErrUnknownField},
		{"extra field", repl("roles:", "color: red\nroles:"), ErrUnknownField},
		{"missing newline", []byte(strings.TrimSuffix(good, "\n")), ErrMalformed},
		{"swapped order", repl("org: acme\n", ""), ErrMalformed},
		{"bad jurisdiction", repl("jurisdiction: DE", "jurisdiction: EU"), ErrBadJurisdiction},
		{"lower-case jurisdiction", repl("jurisdiction: DE", "jurisdiction: de"), ErrBadJurisdiction},
		{"version 2", repl("version: 1", "version: 2"), ErrBadVersion},
		{"version 01", repl("version: 1", "version: 01"), ErrMalformed},
		{"short key", repl("org-key: cairn-org:", "org-key: cairn-org:AA"), ErrBadKey},
		{"bad time", repl("not-before: 2026-11-26T00:00:00Z", "not-before: 2026-11-26T00:00:00+01:00"), ErrBadField},
		{"bad signature length", []byte(good[:len(good)-5] + "\n"), ErrBadField},
		{"space in value", repl("region: eu-central", "region: eu central"), ErrBadField},
		{"unsorted roles", repl("roles: edge,mirror", "roles: mirror,edge"), ErrMalformed},
		{"empty role", repl("roles: edge,mirror", "roles: edge,,mirror"), ErrBadField},
		{"crlf", repl("version: 1\n", "version: 1\r\n"), ErrBadField},
		{"expires before not-before", repl("expires: 2027", "expires: 2025"), ErrBadField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCertificate(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseCertificate = %v, %v, want %v", c, err, tc.want)
			}
		})
	}
}

func TestIssueErrors(t *testing.T) {
	k := newKey(t)
	tests := []struct {
		name string
		mod  func(*Certificate)
		want error
	}{
		{"no expiry", func(c *Certificate) { c.Expires = time.Time{} }, ErrBadField},
		{"bad jurisdiction", func(c *Certificate) { c.Jurisdiction = "XX" }, ErrBadJurisdiction},
		{"no roles", func(c *Certificate) { c.Roles = nil }, ErrBadField},
		{"bad peer", func(c *Certificate) { c.PeerID = "12D3/../x" }, ErrBadField},
		{"other org key", func(c *Certificate) { c.OrgKey = OrgPublicKey(newKey(t)) }, ErrBadKey},
		{"version 3", func(c *Certificate) { c.Version = 3 }, ErrBadVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := baseCert()
			tc.mod(&c)
			if _, err := Issue(k, c); !errors.Is(err, tc.want) {
				t.Fatalf("Issue = %v, want %v", err, tc.want)
			}
		})
	}
	c := baseCert()
	c.Serial, c.NotBefore = "", time.Time{}
	b := issue(t, k, c)
	pc, err := ParseCertificate(b)
	if err != nil || len(pc.Serial) != 32 || time.Since(pc.NotBefore) > IssueBackdate+time.Minute || time.Since(pc.NotBefore) < IssueBackdate-time.Minute {
		t.Errorf("defaults: serial %q not-before %v err %v", pc.Serial, pc.NotBefore, err)
	}
}

func TestRevocationOrdering(t *testing.T) {
	k := newKey(t)
	other := newKey(t)
	tr, _ := NewTrust(OrgPublicKey(k))
	sign := func(key ed25519.PrivateKey, v uint64, serials ...string) []byte {
		b, err := SignRevocations(key, Revocations{Org: "acme", Version: v, Serials: serials, Issued: t0})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v2 := sign(k, 2, "a", "b")
	steps := []struct {
		name    string
		in      []byte
		want    error
		revoked []string
		kept    []string
	}{
		{"first v2", v2, nil, []string{"a", "b"}, []string{"c"}},
		{"redelivered v2", v2, ErrStale, []string{"a", "b"}, nil},
		{"older v1", sign(k, 1, "c"), ErrStale, []string{"a", "b"}, []string{"c"}},
		{"untrusted v9", sign(other, 9, "c"), ErrUntrustedOrg, nil, []string{"c"}},
		{"tampered v9", bytes.Replace(sign(k, 9, "c"), []byte("serial: c"), []byte("serial: d"), 1), ErrBadSignature, nil, []string{"c", "d"}},
		{"newer v3 un-revokes b", sign(k, 3, "a", "c"), nil, []string{"a", "c"}, []string{"b"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := tr.AddRevocations(s.in); !errors.Is(err, s.want) {
				t.Fatalf("AddRevocations = %v, want %v", err, s.want)
			}
			for _, r := range s.revoked {
				if !tr.Revoked(OrgPublicKey(k), r) {
					t.Errorf("Revoked(%q) = false, want true", r)
				}
			}
			for _, r := range s.kept {
				if tr.Revoked(OrgPublicKey(k), r) {
					t.Errorf("Revoked(%q) = true, want false", r)
				}
			}
		})
	}
	if b, v := tr.RevocationList(OrgPublicKey(k)); v != 3 || b == nil {
		t.Errorf("RevocationList version = %d, want 3", v)
	}
	if _, err := ParseRevocations(bytes.Replace(v2, []byte("serial: a\nserial: b"), []byte("serial: b\nserial: a"), 1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("ParseRevocations(unsorted) = %v, want ErrMalformed", err)
	}
	if _, err := ParseRevocations(bytes.Replace(v2, []byte("serial: a"), []byte("seria: a"), 1)); !errors.Is(err, ErrUnknownField) {
		t.Errorf("ParseRevocations(unknown) = %v, want ErrUnknownField", err)
	}
}

func TestOrgKeyFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "org.key")
	k := newKey(t)
	if err := WriteOrgKey(p, k); err != nil {
		t.Fatal(err)
	}
	if err := WriteOrgKey(p, k); !errors.Is(err, ErrKeyExists) {
		t.Errorf("WriteOrgKey twice = %v, want ErrKeyExists", err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	got, err := ReadOrgKey(p)
	if err != nil || !got.Equal(k) {
		t.Fatalf("ReadOrgKey = %v, want the written key", err)
	}
	os.Chmod(p, 0o644)
	if _, err := ReadOrgKey(p); !errors.Is(err, ErrKeyPermissions) {
		t.Errorf("ReadOrgKey(0644) = %v, want ErrKeyPermissions", err)
	}
	pub := FormatOrgPublicKey(OrgPublicKey(k))
	back, err := ParseOrgPublicKey(pub)
	if err != nil || !back.Equal(OrgPublicKey(k)) {
		t.Errorf("ParseOrgPublicKey(%q) = %v", pub, err)
	}
	for _, bad := range []string{"", "cairn-org:", pub[:len(pub)-1], "ed25519:" + pub[len(OrgKeyPrefix):], pub + "A"} {
		if _, err := ParseOrgPublicKey(bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseOrgPublicKey(%q) = %v, want ErrBadKey", bad, err)
		}
	}
}

func TestJurisdictionCodes(t *testing.T) {
	n := 0
	for i := range 26 * 26 {
		if validCodes.has(i) {
			n++
		}
	}
	if n != 249 {
		t.Errorf("valid codes = %d, want 249", n)
	}
	for _, c := range []string{"DE", "FR", "US", "GB", "AX"} {
		if !ValidJurisdiction(c) {
			t.Errorf("ValidJurisdiction(%q) = false", c)
		}
	}
	for _, c := range []string{"EU", "UK", "XK", "de", "D", "DEU", ""} {
		if ValidJurisdiction(c) {
			t.Errorf("ValidJurisdiction(%q) = true", c)
		}
	}
}

func TestRevoke(t *testing.T) {
	k := newKey(t)
	tr, _ := NewTrust(OrgPublicKey(k))
	l1, err := Revoke(k, "acme", nil, "s1")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := Revoke(k, "", l1, "s2", "s1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRevocations(l2)
	if err != nil || r.Version != 2 || strings.Join(r.Serials, ",") != "s1,s2" || r.Org != "acme" {
		t.Fatalf("Revoke(l1, s2) = %+v, %v, want version 2 with s1,s2", r, err)
	}
	if err := tr.AddRevocations(l2); err != nil {
		t.Fatal(err)
	}
	if err := tr.AddRevocations(l1); !errors.Is(err, ErrStale) {
		t.Errorf("AddRevocations(l1 after l2) = %v, want ErrStale", err)
	}
	if _, err := Revoke(newKey(t), "acme", l2, "s3"); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Revoke(other key, l2) = %v, want ErrBadSignature", err)
	}
	if _, err := Revoke(k, "acme", []byte("junk"), "s3"); !errors.Is(err, ErrMalformed) {
		t.Errorf("Revoke(junk prev) = %v, want ErrMalformed", err)
	}
}
