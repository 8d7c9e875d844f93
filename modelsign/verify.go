package modelsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Verification methods reported in Result.Method.
const (
	MethodKey         = "key"
	MethodCertificate = "certificate"
)

// VerifyOptions hold what the verifier trusts.
type VerifyOptions struct {
	// PublicKeys are trusted for the key method (ECDSA or ed25519).
	PublicKeys []crypto.PublicKey
	// Roots are trust anchors for the certificate method; Intermediates
	// add to those the bundle carries.
	Roots         []*x509.Certificate
	Intermediates []*x509.Certificate
	// Time is when certificates must be valid. Default now.
	// model_signing itself checks at the signing certificate's NotBefore,
	// which never finds an expired certificate; Cairn does not.
	Time time.Time
	// Ignore lists revision paths (files or directories) that need not be
	// covered. nil means DefaultIgnore. A signed entry is always checked.
	Ignore []string
}

// Result is what a verified bundle says; it is meaningful only when Verify
// returns no error.
type Result struct {
	Method string
	// Signer names who signed: "sha256:<KeyID>" for the key method, the
	// first identity of the certificate otherwise.
	Signer string
	// KeyID is KeyHint of the key that verified the signature.
	KeyID string
	// Identities are the signing certificate's SAN entries (email, URI,
	// DNS), or its subject common name when it has none.
	Identities []string
	// Issuer is the signing certificate's issuer, plus the Sigstore OIDC
	// issuer extension when present.
	Issuer        string
	ModelName     string
	RootDigest    string
	PredicateType string
	// Files are the signed files, sorted by path.
	Files []File
}

// MismatchError says which files differ between a bundle and a revision.
type MismatchError struct {
	Uncovered []string // in the revision, not signed
	Missing   []string // signed, not in the revision
	Changed   []string // in both with different digests
}

func (e *MismatchError) Error() string {
	var parts []string
	add := func(what string, names []string) {
		if len(names) > 0 {
			parts = append(parts, what+": "+listNames(names))
		}
	}
	add("not covered by the signature", e.Uncovered)
	add("signed but missing", e.Missing)
	add("digest differs", e.Changed)
	return "model signature does not match the files: " + strings.Join(parts, "; ")
}

func listNames(names []string) string {
	const show = 10
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}

// Verify checks bundle's signature against opts and that its manifest covers
// exactly files with the same digests.
func Verify(bundleJSON []byte, files []File, opts VerifyOptions) (Result, error) {
	var res Result
	b, err := parseBundle(bundleJSON)
	if err != nil {
		return res, err
	}
	payload, err := decodeB64(b.DSSEEnvelope.Payload)
	if err != nil {
		return res, fmt.Errorf("envelope payload is not base64: %w", err)
	}
	if err := verifySignature(b, payload, opts, &res); err != nil {
		return res, err
	}
	manifest, err := parseStatement(payload, &res)
	if err != nil {
		return res, err
	}
	if opts.Ignore == nil {
		opts.Ignore = DefaultIgnore
	}
	if err := compare(manifest, files, opts.Ignore); err != nil {
		return res, err
	}
	return res, nil
}

func verifySignature(b *bundle, payload []byte, opts VerifyOptions, res *Result) error {
	vm := b.VerificationMaterial
	if vm.X509CertificateChain != nil || vm.Certificate != nil {
		leaf, err := verifyChain(vm, opts)
		if err != nil {
			return err
		}
		describeCert(leaf, res)
		return verifyWith([]crypto.PublicKey{leaf.PublicKey}, b.DSSEEnvelope, payload, res)
	}
	keys, err := candidateKeys(vm.PublicKey, opts.PublicKeys)
	if err != nil {
		return err
	}
	res.Method = MethodKey
	if err := verifyWith(keys, b.DSSEEnvelope, payload, res); err != nil {
		return err
	}
	res.Signer = "sha256:" + res.KeyID
	return nil
}

// candidateKeys narrows the trusted keys to those the bundle names.
func candidateKeys(id *publicKeyID, trusted []crypto.PublicKey) ([]crypto.PublicKey, error) {
	if len(trusted) == 0 {
		return nil, errors.New("bundle uses the key method but no public key is trusted")
	}
	if id == nil {
		return trusted, nil
	}
	var named crypto.PublicKey
	if id.RawBytes != "" {
		raw, err := decodeB64(id.RawBytes)
		if err != nil {
			return nil, fmt.Errorf("bundle public key is not base64: %w", err)
		}
		if blk, _ := pem.Decode(raw); blk != nil {
			raw = blk.Bytes
		}
		if named, err = x509.ParsePKIXPublicKey(raw); err != nil {
			return nil, fmt.Errorf("bundle public key: %w", err)
		}
	}
	var out []crypto.PublicKey
	for _, k := range trusted {
		hint, err := KeyHint(k)
		if err != nil {
			return nil, err
		}
		if (id.Hint == "" || strings.EqualFold(hint, id.Hint)) && (named == nil || publicKeysEqual(named, k)) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bundle was signed by key %q, which is not trusted", id.Hint)
	}
	return out, nil
}

// verifyWith accepts the envelope if any signature verifies under any key.
func verifyWith(keys []crypto.PublicKey, env *envelope, payload []byte, res *Result) error {
	for _, s := range env.Signatures {
		sig, err := decodeB64(s.Sig)
		if err != nil {
			continue
		}
		for _, k := range keys {
			if checkSig(k, env.PayloadType, payload, sig) {
				id, err := KeyHint(k)
				if err != nil {
					return err
				}
				res.KeyID = id
				return nil
			}
		}
	}
	return errors.New("envelope signature does not verify")
}

func checkSig(k crypto.PublicKey, payloadType string, payload, sig []byte) bool {
	msg := pae(payloadType, payload)
	switch pub := k.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, msg, sig)
	case *ecdsa.PublicKey:
		h, err := curveHash(pub.Curve)
		if err != nil {
			return false
		}
		if ecdsa.VerifyASN1(pub, hashSum(h, msg), sig) {
			return true
		}
		// model_signing v0.2 signed a mangled encoding, and hashed with
		// SHA-256 whatever the curve.
		old := paeCompat(payloadType, payload)
		return ecdsa.VerifyASN1(pub, hashSum(h, old), sig) || ecdsa.VerifyASN1(pub, hashSum(crypto.SHA256, old), sig)
	}
	return false
}

func verifyChain(vm verificationMaterial, opts VerifyOptions) (*x509.Certificate, error) {
	if len(opts.Roots) == 0 {
		return nil, errors.New("bundle uses the certificate method but no root is trusted")
	}
	raws := []rawCert{}
	if vm.X509CertificateChain != nil {
		raws = vm.X509CertificateChain.Certificates
	} else if vm.Certificate != nil {
		raws = []rawCert{*vm.Certificate}
	}
	var certs []*x509.Certificate
	for i, r := range raws {
		der, err := decodeB64(r.RawBytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d is not base64: %w", i, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		certs = append(certs, c)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range opts.Roots {
		roots.AddCert(c)
	}
	for _, c := range append(certs[1:], opts.Intermediates...) {
		inter.AddCert(c)
	}
	at := opts.Time
	if at.IsZero() {
		at = time.Now()
	}
	leaf := certs[0]
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, fmt.Errorf("signing certificate %q: %w", leaf.Subject.String(), err)
	}
	if !canSign(leaf) {
		return nil, fmt.Errorf("signing certificate %q allows neither digital signature nor code signing", leaf.Subject.String())
	}
	return leaf, nil
}

// canSign mirrors model_signing: key usage digitalSignature or extended key
// usage codeSigning.
func canSign(c *x509.Certificate) bool {
	if c.KeyUsage&x509.KeyUsageDigitalSignature != 0 {
		return true
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageCodeSigning {
			return true
		}
	}
	return false
}

// Sigstore's OIDC issuer extensions (Fulcio): v1 raw string, v2 DER UTF8String.
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

func describeCert(c *x509.Certificate, res *Result) {
	res.Method = MethodCertificate
	res.Identities = append(res.Identities, c.EmailAddresses...)
	for _, u := range c.URIs {
		res.Identities = append(res.Identities, u.String())
	}
	res.Identities = append(res.Identities, c.DNSNames...)
	if len(res.Identities) == 0 && c.Subject.CommonName != "" {
		res.Identities = []string{c.Subject.CommonName}
	}
	if len(res.Identities) > 0 {
		res.Signer = res.Identities[0]
	}
	res.Issuer = c.Issuer.String()
	for _, e := range c.Extensions {
		var s string
		switch {
		case e.Id.Equal(oidIssuerV2):
			if _, err := asn1.Unmarshal(e.Value, &s); err != nil {
				continue
			}
		case e.Id.Equal(oidIssuerV1):
			s = string(e.Value)
		default:
			continue
		}
		res.Issuer += " (OIDC " + s + ")"
		break
	}
}

// parseStatement checks the statement and returns its manifest, path to
// sha256, filling the descriptive fields of res.
func parseStatement(payload []byte, res *Result) (map[string]string, error) {
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("payload is not an in-toto statement: %w", err)
	}
	if st.Type != StatementType {
		return nil, fmt.Errorf("statement type %q, want %q", st.Type, StatementType)
	}
	res.PredicateType = st.PredicateType
	switch st.PredicateType {
	case PredicateType:
		return manifestV1(&st, res)
	case PredicateTypeCompat:
		return manifestCompat(&st, res)
	}
	return nil, fmt.Errorf("predicate type %q is not a model signature", st.PredicateType)
}

func manifestV1(st *statement, res *Result) (map[string]string, error) {
	if len(st.Subject) != 1 {
		return nil, fmt.Errorf("statement has %d subjects, want 1", len(st.Subject))
	}
	p := st.Predicate
	if p == nil || p.Serialization == nil {
		return nil, errors.New("statement has no serialization")
	}
	if p.Serialization.Method != "files" {
		return nil, fmt.Errorf("serialization method %q not supported (only whole files)", p.Serialization.Method)
	}
	if len(p.Resources) > MaxResources {
		return nil, fmt.Errorf("statement lists %d resources, more than %d", len(p.Resources), MaxResources)
	}
	root, err := rootDigest(p.Resources)
	if err != nil {
		return nil, err
	}
	want := st.Subject[0].Digest["sha256"]
	if !strings.EqualFold(root, want) {
		return nil, fmt.Errorf("manifest inconsistent: subject digest %s, resources hash to %s", want, root)
	}
	res.ModelName, res.RootDigest = st.Subject[0].Name, root
	m := make(map[string]string, len(p.Resources))
	for _, r := range p.Resources {
		if r.Algorithm != "sha256" {
			return nil, fmt.Errorf("resource %q uses %q; only sha256 is supported", r.Name, r.Algorithm)
		}
		if err := addEntry(m, r.Name, r.Digest); err != nil {
			return nil, err
		}
	}
	res.Files = sortedFiles(m)
	return m, nil
}

// manifestCompat reads the v0.2 statement: one subject per file.
func manifestCompat(st *statement, res *Result) (map[string]string, error) {
	if len(st.Subject) > MaxResources {
		return nil, fmt.Errorf("statement lists %d subjects, more than %d", len(st.Subject), MaxResources)
	}
	m := make(map[string]string, len(st.Subject))
	for _, s := range st.Subject {
		if err := addEntry(m, s.Name, s.Digest["sha256"]); err != nil {
			return nil, err
		}
	}
	res.Files = sortedFiles(m)
	return m, nil
}

func addEntry(m map[string]string, name, digest string) error {
	if name != "." {
		if err := checkPath(name); err != nil {
			return err
		}
	}
	if _, err := digestBytes(digest); err != nil {
		return fmt.Errorf("resource %q: %w", name, err)
	}
	if _, dup := m[name]; dup {
		return fmt.Errorf("resource %q listed twice", name)
	}
	m[name] = strings.ToLower(digest)
	return nil
}

func sortedFiles(m map[string]string) []File {
	out := make([]File, 0, len(m))
	for p, d := range m {
		out = append(out, File{Path: p, SHA256: d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// compare checks that every revision file is signed with its digest and
// every signed file is in the revision. A single-file model is signed under
// the name ".".
func compare(signed map[string]string, files []File, ignore []string) error {
	if d, ok := signed["."]; ok && len(signed) == 1 && len(files) == 1 {
		signed = map[string]string{files[0].Path: d}
	}
	e := &MismatchError{}
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		seen[f.Path] = true
		d, ok := signed[f.Path]
		switch {
		case !ok && !ignored(f.Path, ignore):
			e.Uncovered = append(e.Uncovered, f.Path)
		case ok && !strings.EqualFold(d, f.SHA256):
			e.Changed = append(e.Changed, f.Path)
		}
	}
	for p := range signed {
		if !seen[p] {
			e.Missing = append(e.Missing, p)
		}
	}
	if len(e.Uncovered)+len(e.Missing)+len(e.Changed) == 0 {
		return nil
	}
	sort.Strings(e.Uncovered)
	sort.Strings(e.Missing)
	sort.Strings(e.Changed)
	return e
}
