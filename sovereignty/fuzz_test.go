package sovereignty

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// FuzzParsePolicy checks that the YAML policy decoder never panics, and that
// an accepted policy answers every action without panicking.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(issue5Policy))
	f.Add([]byte("repos:\n  - match: '*a?b*'\n    hold: ['*']\n    receive: ['*']\n    replicas: {min: 1, in: {EU: 1}}\njurisdictions:\n  EU: [DE]\n"))
	f.Add([]byte("repos:\n  - match: a/*\n    hold: [DE, FR]\n    receive: [DE]\n"))
	f.Add([]byte("repos:\n  - match: a/*\n    scan: block-unknown\n    licenses: [apache-2.0, MIT, llama3.2, GPL-3.0-only]\n  - match: '*'\n    scan: warn\n"))
	f.Add([]byte("repos:\n  - match: a/*\n    scan: ''\n    licenses: []\n"))
	f.Add([]byte("a: &a [*a, *a]\nb: &b [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := ParsePolicy(doc)
		if err != nil {
			return
		}
		if len(p.Rules) == 0 || len(p.Rules) != len(p.rules) {
			t.Fatalf("accepted policy with %d rules", len(p.Rules))
		}
		e := &Engine{}
		e.cur.Store(p)
		for a := range numActions {
			for _, j := range []string{"DE", "FR", "US", "", "zz"} {
				e.Decide(a, "acme/llama", member(j))
			}
		}
		v := p.Admit("acme/llama", RevisionFacts{Files: []FileFacts{{Path: "a.bin", Verdict: FileUnknown}}, Licences: []string{"mit"}})
		if v.Quarantine != (len(v.Reasons) > 0) {
			t.Fatalf("Admit = %+v", v)
		}
		for _, r := range p.Rules {
			if r.Replicas.Min > r.Replicas.Max {
				t.Fatalf("accepted min %d > max %d", r.Replicas.Min, r.Replicas.Max)
			}
		}
	})
}

// FuzzVerifyPolicy checks the signed envelope decoder: no panics, and an
// accepted envelope came from the trusted key with an intact signature.
func FuzzVerifyPolicy(f *testing.F) {
	k := newKey(f)
	tr, _ := NewTrust(OrgPublicKey(k))
	signed, err := SignPolicy(k, []byte(issue5Policy), 3)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(signed[:200])
	f.Add([]byte("cairn-policy-v1\norg-key: x\nversion: 1\nsize: 0\nsignature: y\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if sp, err := ParseSignedPolicy(b); err == nil && len(sp.Signature) != 64 {
			t.Fatalf("accepted signature of %d bytes", len(sp.Signature))
		}
		p, err := VerifyPolicy(tr, b)
		if err != nil {
			return
		}
		if !bytes.Equal(b, signed) {
			// Ed25519 signatures are not malleable; only the original envelope verifies.
			t.Fatalf("accepted a modified envelope (version %d)", p.Version)
		}
	})
}

// FuzzVerifyAudit feeds arbitrary files to the chain checker: no panics, and
// a file it accepts has as many newline-terminated lines as entries.
func FuzzVerifyAudit(f *testing.F) {
	seed := signedLogSeed(f, newKey(f))
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		v := &chainVerifier{path: "fuzz", prev: genesisPrev, held: map[uint64]heldCheckpoint{}}
		r, err := v.run(bytes.NewReader(b))
		if err != nil {
			return
		}
		if int(r.Entries) != bytes.Count(b, []byte("\n")) {
			t.Fatalf("accepted %d entries in %d lines", r.Entries, bytes.Count(b, []byte("\n")))
		}
	})
}

// FuzzOpenAudit opens arbitrary files as a signed log: no panics, and a
// file that verified before still verifies after an append and a Close.
func FuzzOpenAudit(f *testing.F) {
	k := newKey(f)
	seed := signedLogSeed(f, k)
	syncFile = func(*os.File) error { return nil }
	f.Cleanup(func() { syncFile = (*os.File).Sync })
	f.Add(seed)
	f.Add(seed[:len(seed)-7])
	f.Add(append(bytes.Clone(seed), `{"seq":9,"ti`...))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "audit.log")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, before := CheckAudit(p)
		a, err := OpenAuditWith(p, AuditOptions{Signer: KeySigner(k), Node: peerA})
		if err != nil {
			return
		}
		err = a.Append(Entry{Kind: KindExport, Repo: "acme/x"})
		if cerr := a.Close(); err == nil {
			err = cerr
		}
		if before == nil && err == nil {
			if _, _, err := CheckAudit(p); err != nil {
				t.Fatalf("intact log broken by open, append, close: %v", err)
			}
		}
	})
}

// FuzzParseCheckpoint: no panics, accepted input is canonical.
func FuzzParseCheckpoint(f *testing.F) {
	k := newKey(f)
	cp, err := signCheckpoint(KeySigner(k), Checkpoint{Node: peerA, Seq: 7, Head: strings.Repeat("ab", 32), Time: t0, Final: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cp.Marshal())
	f.Add([]byte(checkpointHeader + "\nnode: x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCheckpoint(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Marshal(), b) {
			t.Fatalf("accepted non-canonical input %q", b)
		}
	})
}

// signedLogSeed is a log with entries, checkpoints and a final checkpoint.
func signedLogSeed(f testing.TB, k ed25519.PrivateKey) []byte {
	p := filepath.Join(f.TempDir(), "seed.log")
	a, err := OpenAuditWith(p, AuditOptions{Signer: KeySigner(k), Node: peerA})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		a.Append(Entry{Kind: KindReplicate, Repo: fmt.Sprintf("acme/m%d", i), Time: t0})
		if i == 1 {
			a.Checkpoint()
		}
	}
	a.Close()
	seed, _ := os.ReadFile(p)
	return seed
}
