package sovereignty

import (
	"bytes"
	"testing"
)

// FuzzParseCertificate checks that the decoder never panics and that every
// accepted input is canonical: it re-encodes to the same bytes.
func FuzzParseCertificate(f *testing.F) {
	k := newKey(f)
	good := issue(f, k, baseCert())
	f.Add(good)
	f.Add(bytes.Replace(good, []byte("DE"), []byte("EU"), 1))
	f.Add([]byte("cairn-cert-v1\nversion: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCertificate(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Marshal(), b) {
			t.Fatalf("accepted non-canonical input %q", b)
		}
		if _, err := ParseCertificate(c.Marshal()); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

// FuzzParseRevocations: same properties for revocation lists.
func FuzzParseRevocations(f *testing.F) {
	k := newKey(f)
	b, err := SignRevocations(k, Revocations{Org: "acme", Version: 7, Serials: []string{"a", "b"}, Issued: t0})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRevocations(b)
		if err != nil {
			return
		}
		if len(r.Signature) != 64 || r.Version == 0 {
			t.Fatalf("accepted %+v", r)
		}
	})
}
