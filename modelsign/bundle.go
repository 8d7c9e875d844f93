package modelsign

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Media, payload, statement and predicate types of the model_signing format.
const (
	BundleMediaType     = "application/vnd.dev.sigstore.bundle.v0.3+json"
	PayloadType         = "application/vnd.in-toto+json"
	StatementType       = "https://in-toto.io/Statement/v1"
	PredicateType       = "https://model_signing/signature/v1.0"
	PredicateTypeCompat = "https://model_signing/Digests/v0.1"
)

// SignatureFile is the name model_signing gives the bundle beside a model.
const SignatureFile = "model.sig"

// DefaultIgnore lists the paths model_signing leaves out of a signature by
// default: the bundle itself and git metadata.
var DefaultIgnore = []string{SignatureFile, ".git", ".gitattributes", ".gitignore", ".github"}

// Limits on untrusted input. A manifest line is about 150 bytes, so
// MaxBundleSize holds roughly 100 000 files.
const (
	MaxBundleSize = 16 << 20
	MaxResources  = 100_000
	MaxChain      = 8
	MaxSignatures = 8
)

// bundle is the subset of the Sigstore bundle (protobuf JSON) the format uses.
// Bytes fields are strings so both base64 alphabets can be accepted.
type bundle struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial verificationMaterial `json:"verificationMaterial"`
	DSSEEnvelope         *envelope            `json:"dsseEnvelope"`
}

type verificationMaterial struct {
	PublicKey            *publicKeyID `json:"publicKey,omitempty"`
	X509CertificateChain *certChain   `json:"x509CertificateChain,omitempty"`
	Certificate          *rawCert     `json:"certificate,omitempty"`
	TlogEntries          []tlogEntry  `json:"tlogEntries"`
}

// publicKeyID carries hint (hex sha256 of the key's PEM) since v1.1;
// v1.0 wrote rawBytes (base64 PEM) and keyDetails instead.
type publicKeyID struct {
	Hint       string `json:"hint,omitempty"`
	RawBytes   string `json:"rawBytes,omitempty"`
	KeyDetails string `json:"keyDetails,omitempty"`
}

type certChain struct {
	Certificates []rawCert `json:"certificates"`
}

type rawCert struct {
	RawBytes string `json:"rawBytes"`
}

// tlogEntry is kept opaque: transparency-log entries are not verified.
type tlogEntry = json.RawMessage

type envelope struct {
	Payload     string      `json:"payload"`
	PayloadType string      `json:"payloadType"`
	Signatures  []signature `json:"signatures"`
}

type signature struct {
	Sig   string `json:"sig"`
	KeyID string `json:"keyid"`
}

// statement is an in-toto Statement v1 with the model_signing predicate.
type statement struct {
	Type          string     `json:"_type"`
	Subject       []subject  `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     *predicate `json:"predicate"`
}

type subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

type predicate struct {
	Serialization *serialization `json:"serialization,omitempty"`
	Resources     []resource     `json:"resources,omitempty"`
}

type serialization struct {
	Method        string   `json:"method"`
	HashType      string   `json:"hash_type"`
	AllowSymlinks bool     `json:"allow_symlinks"`
	IgnorePaths   []string `json:"ignore_paths,omitempty"`
	ShardSize     int64    `json:"shard_size,omitempty"`
}

type resource struct {
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	Digest    string `json:"digest"`
}

// decodeB64 accepts standard and URL-safe base64, padded or not, as
// protobuf's JSON mapping does.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// parseBundle decodes and bounds a bundle without verifying anything.
func parseBundle(data []byte) (*bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("bundle of %d bytes exceeds %d", len(data), MaxBundleSize)
	}
	var b bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("bundle is not JSON: %w", err)
	}
	if b.MediaType != BundleMediaType {
		return nil, fmt.Errorf("bundle media type %q, want %q", b.MediaType, BundleMediaType)
	}
	if b.DSSEEnvelope == nil {
		return nil, errors.New("bundle holds no DSSE envelope")
	}
	n := len(b.DSSEEnvelope.Signatures)
	if n == 0 || n > MaxSignatures {
		return nil, fmt.Errorf("envelope holds %d signatures, want 1..%d", n, MaxSignatures)
	}
	if b.DSSEEnvelope.PayloadType != PayloadType {
		return nil, fmt.Errorf("envelope payload type %q, want %q", b.DSSEEnvelope.PayloadType, PayloadType)
	}
	if c := b.VerificationMaterial.X509CertificateChain; c != nil && (len(c.Certificates) == 0 || len(c.Certificates) > MaxChain) {
		return nil, fmt.Errorf("certificate chain of %d, want 1..%d", len(c.Certificates), MaxChain)
	}
	return &b, nil
}
