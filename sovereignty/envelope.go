package sovereignty

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strconv"
)

const policyHeader = "cairn-policy-v1"

// SignedPolicy is a decoded policy envelope:
//
//	cairn-policy-v1
//	org-key: cairn-org:...
//	version: 3
//	size: 812
//	signature: ...
//	<size bytes of YAML>
//
// The signature covers the lines before the signature line followed by the
// payload, so the YAML stays readable with cat.
type SignedPolicy struct {
	OrgKey    ed25519.PublicKey
	Version   uint64 // at least 1; a node accepts only increasing versions
	Payload   []byte // the YAML document
	Signature []byte
}

var policyKeys = []string{"org-key", "version", "size", "signature"}

func policySignedPart(orgKey ed25519.PublicKey, version uint64, payload []byte) []byte {
	b := make([]byte, 0, 160+len(payload))
	b = append(b, policyHeader+"\n"...)
	b = appendField(b, "org-key", FormatOrgPublicKey(orgKey))
	b = appendField(b, "version", strconv.FormatUint(version, 10))
	b = appendField(b, "size", strconv.Itoa(len(payload)))
	return append(b, payload...)
}

// SignPolicy validates the YAML document (ParsePolicy) and wraps it in an
// envelope signed by the organisation key. version must be at least 1 and
// greater than the version nodes hold, or they keep the old policy.
func SignPolicy(orgKey ed25519.PrivateKey, doc []byte, version uint64) ([]byte, error) {
	if len(orgKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign policy: signing key: %w", ErrBadKey)
	}
	if version == 0 {
		return nil, fmt.Errorf("sign policy: version must be at least 1: %w", ErrBadField)
	}
	if len(doc) > MaxPolicySize-512 {
		return nil, fmt.Errorf("sign policy: %d bytes: %w", len(doc), ErrTooLarge)
	}
	if _, err := ParsePolicy(doc); err != nil {
		return nil, fmt.Errorf("sign policy: %w", err)
	}
	pub := OrgPublicKey(orgKey)
	sig := ed25519.Sign(orgKey, policySignedPart(pub, version, doc))
	b := make([]byte, 0, 256+len(doc))
	b = append(b, policyHeader+"\n"...)
	b = appendField(b, "org-key", FormatOrgPublicKey(pub))
	b = appendField(b, "version", strconv.FormatUint(version, 10))
	b = appendField(b, "size", strconv.Itoa(len(doc)))
	b = appendField(b, "signature", b64.EncodeToString(sig))
	return append(b, doc...), nil
}

// ParseSignedPolicy decodes an envelope strictly without checking the
// signature or the payload.
func ParseSignedPolicy(b []byte) (*SignedPolicy, error) {
	const doc = "signed policy"
	if len(b) > MaxPolicySize {
		return nil, fmt.Errorf("%s: %d bytes, limit %d: %w", doc, len(b), MaxPolicySize, ErrTooLarge)
	}
	// The header is the first len(policyKeys)+1 lines; the payload follows.
	end := 0
	for range len(policyKeys) + 1 {
		i := bytes.IndexByte(b[end:], '\n')
		if i < 0 || i > 200 {
			return nil, fmt.Errorf("%s: truncated or overlong header: %w", doc, ErrMalformed)
		}
		end += i + 1
	}
	fs, err := splitFields(doc, b[:end], policyHeader)
	if err != nil {
		return nil, err
	}
	if err := expectKeys(doc, fs, policyKeys); err != nil {
		return nil, err
	}
	sp := &SignedPolicy{Payload: b[end:]}
	if sp.OrgKey, err = ParseOrgPublicKey(fs[0].val); err != nil {
		return nil, fmt.Errorf("%s: field \"org-key\": %w", doc, err)
	}
	if sp.Version, err = strconv.ParseUint(fs[1].val, 10, 64); err != nil || sp.Version == 0 || strconv.FormatUint(sp.Version, 10) != fs[1].val {
		return nil, fmt.Errorf("%s: field \"version\": want a decimal number from 1: %w", doc, ErrBadField)
	}
	size, err := strconv.Atoi(fs[2].val)
	if err != nil || strconv.Itoa(size) != fs[2].val {
		return nil, fmt.Errorf("%s: field \"size\": %w", doc, ErrBadField)
	}
	if size != len(sp.Payload) {
		return nil, fmt.Errorf("%s: field \"size\" says %d, payload has %d bytes: %w", doc, size, len(sp.Payload), ErrMalformed)
	}
	if sp.Signature, err = parseSig(doc, fs[3].val); err != nil {
		return nil, err
	}
	return sp, nil
}

// VerifyPolicy decodes an envelope, checks that a trusted organisation
// signed it (ErrUntrustedOrg, ErrBadSignature) and validates the policy
// (ErrInvalidPolicy).
func VerifyPolicy(trust *Trust, signed []byte) (*Policy, error) {
	sp, err := ParseSignedPolicy(signed)
	if err != nil {
		return nil, err
	}
	if !trust.Trusted(sp.OrgKey) {
		return nil, fmt.Errorf("signed policy version %d by %s: %w", sp.Version, FormatOrgPublicKey(sp.OrgKey), ErrUntrustedOrg)
	}
	if !ed25519.Verify(sp.OrgKey, policySignedPart(sp.OrgKey, sp.Version, sp.Payload), sp.Signature) {
		return nil, fmt.Errorf("signed policy version %d: %w", sp.Version, ErrBadSignature)
	}
	p, err := ParsePolicy(sp.Payload)
	if err != nil {
		return nil, fmt.Errorf("signed policy version %d: %w", sp.Version, err)
	}
	p.Version, p.OrgKey = sp.Version, sp.OrgKey
	return p, nil
}
