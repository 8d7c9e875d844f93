package modelsign

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParsePublicKeyPEM reads a PEM "PUBLIC KEY" (SubjectPublicKeyInfo), as
// model_signing's --public_key takes. Text around the block is ignored.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	for blk, rest := pem.Decode(data); blk != nil; blk, rest = pem.Decode(rest) {
		if blk.Type == "PUBLIC KEY" {
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("public key: %w", err)
			}
			return k, nil
		}
	}
	return nil, errors.New("no PEM PUBLIC KEY block")
}

// ParsePrivateKeyPEM reads an unencrypted PEM private key: PKCS#8
// ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY").
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for blk, rest := pem.Decode(data); blk != nil; blk, rest = pem.Decode(rest) {
		switch blk.Type {
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("private key: %w", err)
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("private key of type %T cannot sign", k)
			}
			return s, nil
		}
	}
	return nil, errors.New("no PEM private key block")
}

// ParseCertificatesPEM reads every PEM "CERTIFICATE" block, in order.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for blk, rest := pem.Decode(data); blk != nil; blk, rest = pem.Decode(rest) {
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out), err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return out, nil
}

// Info describes a bundle without verifying it, to choose what to trust.
type Info struct {
	Method        string // MethodKey or MethodCertificate
	KeyHint       string // key method: the hint, if the bundle has one
	Subject       string // certificate method: the signing certificate's subject
	TlogEntries   int    // transparency-log entries (Sigstore keyless bundles)
	PredicateType string
}

// Describe parses bundleJSON and reports what it claims; nothing is verified.
func Describe(bundleJSON []byte) (Info, error) {
	b, err := parseBundle(bundleJSON)
	if err != nil {
		return Info{}, err
	}
	vm := b.VerificationMaterial
	info := Info{Method: MethodKey, TlogEntries: len(vm.TlogEntries)}
	if vm.PublicKey != nil {
		info.KeyHint = vm.PublicKey.Hint
	}
	raw := vm.Certificate
	if vm.X509CertificateChain != nil {
		raw = &vm.X509CertificateChain.Certificates[0]
	}
	if raw != nil {
		info.Method = MethodCertificate
		der, err := decodeB64(raw.RawBytes)
		if err != nil {
			return info, fmt.Errorf("certificate is not base64: %w", err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return info, fmt.Errorf("certificate: %w", err)
		}
		info.Subject = c.Subject.String()
	}
	if p, err := decodeB64(b.DSSEEnvelope.Payload); err == nil {
		var st struct {
			PredicateType string `json:"predicateType"`
		}
		if json.Unmarshal(p, &st) == nil {
			info.PredicateType = st.PredicateType
		}
	}
	return info, nil
}
