package modelsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary bundles to the parsers behind Verify; whatever
// the input, Verify must return without panicking and never accept a bundle
// the trusted key did not sign.
func FuzzVerify(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	good, err := Sign(revision(), Signer{Key: key}, SignOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	p := newPKI(f, time.Now().Add(time.Hour))
	cert, err := Sign(revision(), Signer{Key: p.leafKey, Chain: []*x509.Certificate{p.leaf, p.inter}}, SignOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cert)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"00"}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"x509CertificateChain":{"certificates":[{"rawBytes":"MIIB"}]}},"dsseEnvelope":{"payload":"e30","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"_-8"}]}}`))
	f.Add([]byte(`null`))
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	opts := VerifyOptions{PublicKeys: []crypto.PublicKey{other.Public()}}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Describe(data) // must not panic
		if _, err := Verify(data, revision(), opts); err == nil {
			t.Fatalf("bundle verified under a key that signed nothing: %s", data)
		}
		// Statement parsing alone, as if the signature had verified.
		var res Result
		if m, err := parseStatement(data, &res); err == nil && len(m) > MaxResources {
			t.Fatalf("%d resources accepted", len(m))
		}
	})
}
