package modelsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

func digest(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

func revision() []File {
	return []File{
		{Path: "config.json", SHA256: digest("{}")},
		{Path: "model.safetensors", SHA256: digest("weights")},
		{Path: "tokenizer/tokenizer.json", SHA256: digest("tok")},
		{Path: ".gitattributes", SHA256: digest("lfs")},
	}
}

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyRoundTrip(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]crypto.Signer{
		"p256": ecKey(t, elliptic.P256()), "p384": ecKey(t, elliptic.P384()),
		"p521": ecKey(t, elliptic.P521()), "ed25519": edKey,
	} {
		t.Run(name, func(t *testing.T) {
			b, err := Sign(revision(), Signer{Key: key}, SignOptions{ModelName: "tiny"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := Verify(b, revision(), VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}})
			if err != nil {
				t.Fatal(err)
			}
			hint, _ := KeyHint(key.Public())
			if res.Method != MethodKey || res.KeyID != hint || res.Signer != "sha256:"+hint || res.ModelName != "tiny" {
				t.Fatalf("result %+v", res)
			}
			// .gitattributes is ignored by default, so three files are signed.
			if len(res.Files) != 3 || res.Files[0].Path != "config.json" {
				t.Fatalf("signed files %+v", res.Files)
			}
		})
	}
}

// TestBundleLayout checks the fields model_signing's verifier reads.
func TestBundleLayout(t *testing.T) {
	key := ecKey(t, elliptic.P256())
	b, err := Sign(revision(), Signer{Key: key}, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		MediaType            string
		VerificationMaterial struct {
			PublicKey   struct{ Hint string }
			TlogEntries []any
		}
		DSSEEnvelope struct {
			Payload, PayloadType string
		}
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	hint, _ := KeyHint(key.Public())
	if raw.MediaType != BundleMediaType || raw.VerificationMaterial.PublicKey.Hint != hint ||
		raw.VerificationMaterial.TlogEntries == nil || raw.DSSEEnvelope.PayloadType != PayloadType {
		t.Fatalf("bundle %s", b)
	}
	p, _ := base64.StdEncoding.DecodeString(raw.DSSEEnvelope.Payload)
	var st statement
	if err := json.Unmarshal(p, &st); err != nil {
		t.Fatal(err)
	}
	res := st.Predicate.Resources
	root, _ := rootDigest(res)
	if st.Type != StatementType || st.PredicateType != PredicateType || st.Subject[0].Digest["sha256"] != root ||
		st.Predicate.Serialization.Method != "files" || res[0].Algorithm != "sha256" || res[2].Name != "tokenizer/tokenizer.json" {
		t.Fatalf("statement %s", p)
	}
}

func mustSign(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	b, err := Sign(revision(), Signer{Key: key}, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mutate decodes bundle b, lets f change it and re-encodes it.
func mutate(t *testing.T, b []byte, f func(*bundle)) []byte {
	t.Helper()
	var bb bundle
	if err := json.Unmarshal(b, &bb); err != nil {
		t.Fatal(err)
	}
	f(&bb)
	out, err := json.Marshal(bb)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestKeyTamper(t *testing.T) {
	key := ecKey(t, elliptic.P256())
	good := mustSign(t, key)
	trust := VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}}
	other := ecKey(t, elliptic.P256())
	// resigned signs a changed statement with the right key, so only the
	// manifest checks can catch it.
	resigned := func(f func(*statement)) []byte {
		st, err := newStatement(revision(), SignOptions{ModelName: "m", Ignore: DefaultIgnore})
		if err != nil {
			t.Fatal(err)
		}
		f(st)
		p, _ := json.Marshal(st)
		b, err := signPayload(p, Signer{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	payload := mutate(t, good, func(b *bundle) {
		p, _ := decodeB64(b.DSSEEnvelope.Payload)
		p = []byte(strings.Replace(string(p), digest("weights"), digest("other"), 1))
		b.DSSEEnvelope.Payload = base64.StdEncoding.EncodeToString(p)
	})
	sig := mutate(t, good, func(b *bundle) {
		s, _ := decodeB64(b.DSSEEnvelope.Signatures[0].Sig)
		s[len(s)-1] ^= 1
		b.DSSEEnvelope.Signatures[0].Sig = base64.StdEncoding.EncodeToString(s)
	})
	cases := map[string]struct {
		bundle []byte
		files  []File
		opts   VerifyOptions
		want   string
	}{
		"payload":        {payload, revision(), trust, "signature does not verify"},
		"signature":      {sig, revision(), trust, "signature does not verify"},
		"wrong key":      {good, revision(), VerifyOptions{PublicKeys: []crypto.PublicKey{other.Public()}}, "not trusted"},
		"no key":         {good, revision(), VerifyOptions{}, "no public key is trusted"},
		"payload type":   {mutate(t, good, func(b *bundle) { b.DSSEEnvelope.PayloadType = "text/plain" }), revision(), trust, "payload type"},
		"media type":     {mutate(t, good, func(b *bundle) { b.MediaType = "x" }), revision(), trust, "media type"},
		"root digest":    {resigned(func(s *statement) { s.Subject[0].Digest["sha256"] = digest("x") }), revision(), trust, "manifest inconsistent"},
		"predicate type": {resigned(func(s *statement) { s.PredicateType = "https://slsa.dev/provenance/v1" }), revision(), trust, "not a model signature"},
		"shards":         {resigned(func(s *statement) { s.Predicate.Serialization.Method = "shards" }), revision(), trust, "not supported"},
		"file digest": {good, replace(revision(), File{Path: "model.safetensors", SHA256: digest("evil")}), trust,
			"digest differs: model.safetensors"},
		"missing file": {good, revision()[:2], trust, "signed but missing: tokenizer/tokenizer.json"},
		"extra file": {good, append(revision(), File{Path: "pytorch_model.bin", SHA256: digest("p")}), trust,
			"not covered by the signature: pytorch_model.bin"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(c.bundle, c.files, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

func TestMismatchErrorNamesFiles(t *testing.T) {
	key := ecKey(t, elliptic.P256())
	files := revision()[:2]
	files = append(files, File{Path: "extra.bin", SHA256: digest("e")})
	_, err := Verify(mustSign(t, key), files, VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}})
	var me *MismatchError
	if !errors.As(err, &me) || len(me.Uncovered) != 1 || me.Uncovered[0] != "extra.bin" ||
		len(me.Missing) != 1 || me.Missing[0] != "tokenizer/tokenizer.json" || len(me.Changed) != 0 {
		t.Fatalf("err %v", err)
	}
}

func replace(files []File, f File) []File {
	for i := range files {
		if files[i].Path == f.Path {
			files[i] = f
		}
	}
	return files
}

// pki is a root, an intermediate and a leaf with an email SAN.
type pki struct {
	root, inter, leaf *x509.Certificate
	leafKey           *ecdsa.PrivateKey
}

func newCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPKI(t testing.TB, notAfter time.Time) pki {
	t.Helper()
	now := time.Now()
	ca := func(cn string, serial int64) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true,
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	}
	rootKey, interKey, leafKey := ecKey(t, elliptic.P384()), ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256())
	root := newCert(t, ca("root", 1), ca("root", 1), rootKey.Public(), rootKey)
	inter := newCert(t, ca("intermediate", 2), root, interKey.Public(), rootKey)
	uri, _ := url.Parse("https://github.com/acme/release.yml")
	leafT := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, EmailAddresses: []string{"ml@acme.example"}, URIs: []*url.URL{uri}}
	leaf := newCert(t, leafT, inter, leafKey.Public(), interKey)
	return pki{root: root, inter: inter, leaf: leaf, leafKey: leafKey}
}

func TestCertificate(t *testing.T) {
	p := newPKI(t, time.Now().Add(time.Hour))
	b, err := Sign(revision(), Signer{Key: p.leafKey, Chain: []*x509.Certificate{p.leaf, p.inter}}, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Verify(b, revision(), VerifyOptions{Roots: []*x509.Certificate{p.root}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Method != MethodCertificate || res.Signer != "ml@acme.example" || len(res.Identities) != 2 ||
		!strings.Contains(res.Issuer, "intermediate") {
		t.Fatalf("result %+v", res)
	}

	other := newPKI(t, time.Now().Add(time.Hour))
	if _, err := Verify(b, revision(), VerifyOptions{Roots: []*x509.Certificate{other.root}}); err == nil ||
		!strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("chain to another root: %v", err)
	}
	if _, err := Verify(b, revision(), VerifyOptions{PublicKeys: []crypto.PublicKey{p.leafKey.Public()}}); err == nil {
		t.Fatal("certificate bundle verified without a trusted root")
	}

	expired := newPKI(t, time.Now().Add(-time.Hour))
	eb, err := Sign(revision(), Signer{Key: expired.leafKey, Chain: []*x509.Certificate{expired.leaf, expired.inter}}, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(eb, revision(), VerifyOptions{Roots: []*x509.Certificate{expired.root}}); err == nil ||
		!strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired certificate: %v", err)
	}
	// Checked at a time inside its validity, the same bundle verifies.
	at := VerifyOptions{Roots: []*x509.Certificate{expired.root}, Time: time.Now().Add(-2 * time.Hour)}
	if _, err := Verify(eb, revision(), at); err != nil {
		t.Fatalf("at signing time: %v", err)
	}

	if _, err := Sign(revision(), Signer{Key: ecKey(t, elliptic.P256()), Chain: []*x509.Certificate{p.leaf}}, SignOptions{}); err == nil {
		t.Fatal("signed with a key that is not the certificate's")
	}
}

func TestSignRefuses(t *testing.T) {
	key := ecKey(t, elliptic.P256())
	for name, files := range map[string][]File{
		"absolute":  {{Path: "/etc/passwd", SHA256: digest("x")}},
		"dotdot":    {{Path: "../x", SHA256: digest("x")}},
		"bad hex":   {{Path: "a", SHA256: "zz"}},
		"duplicate": {{Path: "a", SHA256: digest("x")}, {Path: "a", SHA256: digest("y")}},
		"empty":     {},
	} {
		if _, err := Sign(files, Signer{Key: key}, SignOptions{}); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	if _, err := Sign(revision(), Signer{Key: ecKey(t, elliptic.P224())}, SignOptions{}); err == nil {
		t.Error("signed with P-224")
	}
}

// TestCompatEncoding checks the v0.2 encoding against Python's repr rules.
func TestCompatEncoding(t *testing.T) {
	for in, want := range map[string]string{
		"{\"a\": 1}\n": `b'{"a": 1}\n'`,
		"it's":         `b"it's"`,
		"'\"":          `b'\'"'`,
		"\x00\xff\\":   `b'\x00\xff\\'`,
	} {
		if got := pyBytesRepr([]byte(in)); got != want {
			t.Errorf("repr(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSingleFileModel(t *testing.T) {
	key := ecKey(t, elliptic.P256())
	st := &statement{Type: StatementType, PredicateType: PredicateType,
		Subject:   []subject{{Name: "m.gguf"}},
		Predicate: &predicate{Serialization: &serialization{Method: "files", HashType: "sha256"}, Resources: []resource{{Name: ".", Algorithm: "sha256", Digest: digest("g")}}}}
	root, _ := rootDigest(st.Predicate.Resources)
	st.Subject[0].Digest = map[string]string{"sha256": root}
	p, _ := json.Marshal(st)
	b, err := signPayload(p, Signer{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	opts := VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}}
	if _, err := Verify(b, []File{{Path: "m.gguf", SHA256: digest("g")}}, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(b, []File{{Path: "m.gguf", SHA256: digest("h")}}, opts); err == nil {
		t.Fatal("changed single file verified")
	}
}

func TestPEMAndDescribe(t *testing.T) {
	p := newPKI(t, time.Now().Add(time.Hour))
	der, err := x509.MarshalPKCS8PrivateKey(p.leafKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(p.leafKey.Public())
	pub, err := ParsePublicKeyPEM(append([]byte("Public Key Info:\n"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})...))
	if err != nil || !publicKeysEqual(pub, p.leafKey.Public()) {
		t.Fatalf("public key %v", err)
	}
	chainPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.leaf.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.inter.Raw})...)
	chain, err := ParseCertificatesPEM(chainPEM)
	if err != nil || len(chain) != 2 {
		t.Fatalf("chain %d %v", len(chain), err)
	}
	b, err := Sign(revision(), Signer{Key: key, Chain: chain}, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := Describe(b)
	if err != nil || info.Method != MethodCertificate || info.Subject != "CN=signer" || info.PredicateType != PredicateType {
		t.Fatalf("describe %+v %v", info, err)
	}
	kb := mustSign(t, key)
	hint, _ := KeyHint(pub)
	if info, err := Describe(kb); err != nil || info.Method != MethodKey || info.KeyHint != hint {
		t.Fatalf("describe %+v %v", info, err)
	}
	for _, bad := range []string{"", "-----BEGIN FOO-----\nAA==\n-----END FOO-----\n"} {
		if _, err := ParsePublicKeyPEM([]byte(bad)); err == nil {
			t.Error("parsed a public key from nothing")
		}
		if _, err := ParsePrivateKeyPEM([]byte(bad)); err == nil {
			t.Error("parsed a private key from nothing")
		}
		if _, err := ParseCertificatesPEM([]byte(bad)); err == nil {
			t.Error("parsed certificates from nothing")
		}
	}
}

// TestCompatV02 verifies a bundle laid out as model_signing v0.2 wrote it:
// one subject per file, predicate Digests/v0.1, the mis-encoded PAE hashed
// with SHA-256 on a P-384 key.
func TestCompatV02(t *testing.T) {
	key := ecKey(t, elliptic.P384())
	st := statement{Type: StatementType, PredicateType: PredicateTypeCompat}
	for _, f := range revision()[:3] {
		st.Subject = append(st.Subject, subject{Name: f.Path, Digest: map[string]string{"sha256": f.SHA256}})
	}
	payload, _ := json.MarshalIndent(st, "", "  ")
	sig, err := ecdsa.SignASN1(rand.Reader, key, hashSum(crypto.SHA256, paeCompat(PayloadType, payload)))
	if err != nil {
		t.Fatal(err)
	}
	hint, _ := KeyHint(key.Public())
	b, _ := json.Marshal(bundle{MediaType: BundleMediaType,
		VerificationMaterial: verificationMaterial{PublicKey: &publicKeyID{Hint: hint}},
		DSSEEnvelope: &envelope{PayloadType: PayloadType, Payload: base64.StdEncoding.EncodeToString(payload),
			Signatures: []signature{{Sig: base64.StdEncoding.EncodeToString(sig)}}}})
	res, err := Verify(b, revision(), VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}})
	if err != nil || res.PredicateType != PredicateTypeCompat || len(res.Files) != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := Verify(b, replace(revision(), File{Path: "config.json", SHA256: digest("[]")}),
		VerifyOptions{PublicKeys: []crypto.PublicKey{key.Public()}}); err == nil {
		t.Fatal("changed file verified under the v0.2 layout")
	}
}
