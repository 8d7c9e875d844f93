package modelsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// File is one file of a model revision: its slash-separated path relative to
// the revision's root and the lower-case hex sha256 of its content.
type File struct {
	Path   string
	SHA256 string
}

// Signer holds the key that signs and, for the certificate method, its chain.
type Signer struct {
	// Key is an *ecdsa.PrivateKey on P-256, P-384 or P-521 (what
	// model_signing accepts) or an ed25519.PrivateKey (a Cairn extension that
	// model_signing v1.x does not verify).
	Key crypto.Signer
	// Chain, when set, selects the certificate method: the signing
	// certificate first (its key must be Key's), then intermediates; the
	// root is left out, as model_signing does.
	Chain []*x509.Certificate
}

// SignOptions name the model and the paths left out of the signature.
type SignOptions struct {
	// ModelName is the statement's subject name (model_signing uses the
	// model directory's base name). Default "model".
	ModelName string
	// Ignore lists paths (files or directories) left out of the manifest and
	// recorded as such. Default DefaultIgnore.
	Ignore []string
}

// Sign produces a model_signing v1.0 bundle over files.
func Sign(files []File, s Signer, opts SignOptions) ([]byte, error) {
	if opts.ModelName == "" {
		opts.ModelName = "model"
	}
	if opts.Ignore == nil {
		opts.Ignore = DefaultIgnore
	}
	st, err := newStatement(files, opts)
	if err != nil {
		return nil, err
	}
	payload, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	return signPayload(payload, s)
}

// newStatement builds the statement: resources sorted by path, the subject's
// digest the sha256 of the concatenated raw resource digests.
func newStatement(files []File, opts SignOptions) (*statement, error) {
	res := make([]resource, 0, len(files))
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if err := checkPath(f.Path); err != nil {
			return nil, err
		}
		if ignored(f.Path, opts.Ignore) {
			continue
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("file %q listed twice", f.Path)
		}
		seen[f.Path] = true
		if _, err := digestBytes(f.SHA256); err != nil {
			return nil, fmt.Errorf("file %q: %w", f.Path, err)
		}
		res = append(res, resource{Name: f.Path, Algorithm: "sha256", Digest: strings.ToLower(f.SHA256)})
	}
	if len(res) == 0 {
		return nil, errors.New("no files to sign")
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Name < res[j].Name })
	root, _ := rootDigest(res)
	return &statement{
		Type:          StatementType,
		Subject:       []subject{{Name: opts.ModelName, Digest: map[string]string{"sha256": root}}},
		PredicateType: PredicateType,
		Predicate: &predicate{
			Serialization: &serialization{Method: "files", HashType: "sha256", IgnorePaths: opts.Ignore},
			Resources:     res,
		},
	}, nil
}

// rootDigest is model_signing's digest over a manifest's resources.
func rootDigest(res []resource) (string, error) {
	h := sha256.New()
	for _, r := range res {
		d, err := digestBytes(r.Digest)
		if err != nil {
			return "", fmt.Errorf("resource %q: %w", r.Name, err)
		}
		h.Write(d)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func digestBytes(s string) ([]byte, error) {
	d, err := hex.DecodeString(s)
	if err != nil || len(d) != sha256.Size {
		return nil, fmt.Errorf("sha256 digest %q is not 64 hex digits", s)
	}
	return d, nil
}

// checkPath refuses paths that could name something outside the revision.
func checkPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("file path %q is not a clean relative path", p)
	}
	return nil
}

// ignored reports whether p is one of list or lies under one of them.
func ignored(p string, list []string) bool {
	for _, ig := range list {
		ig = strings.TrimSuffix(strings.TrimPrefix(ig, "./"), "/")
		if p == ig || strings.HasPrefix(p, ig+"/") {
			return true
		}
	}
	return false
}

// signPayload wraps payload in a signed DSSE envelope inside a bundle.
func signPayload(payload []byte, s Signer) ([]byte, error) {
	if s.Key == nil {
		return nil, errors.New("signer has no key")
	}
	sig, err := signDigest(s.Key, pae(PayloadType, payload))
	if err != nil {
		return nil, err
	}
	vm, err := material(s)
	if err != nil {
		return nil, err
	}
	b := bundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: vm,
		DSSEEnvelope: &envelope{
			Payload:     base64.StdEncoding.EncodeToString(payload),
			PayloadType: PayloadType,
			Signatures:  []signature{{Sig: base64.StdEncoding.EncodeToString(sig)}},
		},
	}
	return json.MarshalIndent(b, "", "  ")
}

func material(s Signer) (verificationMaterial, error) {
	vm := verificationMaterial{TlogEntries: []tlogEntry{}}
	if len(s.Chain) == 0 {
		hint, err := KeyHint(s.Key.Public())
		if err != nil {
			return vm, err
		}
		vm.PublicKey = &publicKeyID{Hint: hint}
		return vm, nil
	}
	if len(s.Chain) > MaxChain {
		return vm, fmt.Errorf("certificate chain of %d exceeds %d", len(s.Chain), MaxChain)
	}
	if !publicKeysEqual(s.Chain[0].PublicKey, s.Key.Public()) {
		return vm, errors.New("signing certificate does not hold the signer's public key")
	}
	vm.X509CertificateChain = &certChain{}
	for _, c := range s.Chain {
		vm.X509CertificateChain.Certificates = append(vm.X509CertificateChain.Certificates,
			rawCert{RawBytes: base64.StdEncoding.EncodeToString(c.Raw)})
	}
	return vm, nil
}

// signDigest signs msg with the hash model_signing pairs with the key's
// curve (SHA-256/384/512 for P-256/384/521); ed25519 signs msg itself.
func signDigest(key crypto.Signer, msg []byte) ([]byte, error) {
	switch pub := key.Public().(type) {
	case ed25519.PublicKey:
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	case *ecdsa.PublicKey:
		h, err := curveHash(pub.Curve)
		if err != nil {
			return nil, err
		}
		return key.Sign(rand.Reader, hashSum(h, msg), h)
	default:
		return nil, fmt.Errorf("key type %T not supported (want ECDSA P-256/384/521 or ed25519)", pub)
	}
}

func curveHash(c elliptic.Curve) (crypto.Hash, error) {
	switch c {
	case elliptic.P256():
		return crypto.SHA256, nil
	case elliptic.P384():
		return crypto.SHA384, nil
	case elliptic.P521():
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("elliptic curve %s not supported", c.Params().Name)
}

func hashSum(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		return s[:]
	case crypto.SHA512:
		s := sha512.Sum512(msg)
		return s[:]
	}
	s := sha256.Sum256(msg)
	return s[:]
}

// KeyHint is model_signing's key identifier: the hex sha256 of the public
// key's PEM (SubjectPublicKeyInfo) encoding.
func KeyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return hex.EncodeToString(sum[:]), nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
