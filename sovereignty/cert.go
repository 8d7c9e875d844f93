package sovereignty

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	certHeader = "cairn-cert-v1"
	// MaxCertificateSize bounds ParseCertificate's input.
	MaxCertificateSize = 4096
	maxRoles           = 16
)

var certKeys = []string{"version", "org", "org-key", "peer", "region", "jurisdiction", "roles", "serial", "not-before", "expires", "signature"}

// Certificate binds a libp2p peer ID to an organisation and to the attributes
// policy decisions use. Its encoding is a short text document:
//
//	cairn-cert-v1
//	version: 1
//	org: acme
//	org-key: cairn-org:...
//	peer: 12D3KooW...
//	region: eu-central
//	jurisdiction: DE
//	roles: edge,mirror
//	serial: 3f9c...
//	not-before: 2026-11-26T00:00:00Z
//	expires: 2027-11-26T00:00:00Z
//	signature: ...
type Certificate struct {
	Version      int               // format version; 0 means 1 in Issue
	Org          string            // organisation name, [A-Za-z0-9._-]{1,64}
	OrgKey       ed25519.PublicKey // signer; Issue fills it from the signing key
	PeerID       string            // libp2p peer ID as text
	Region       string            // operator's region name, [A-Za-z0-9._-]{1,64}
	Jurisdiction string            // ISO 3166-1 alpha-2, upper case
	Roles        []string          // mirror, edge, ...; Issue sorts and de-duplicates
	Serial       string            // unique per organisation; Issue picks a random one when empty
	NotBefore    time.Time         // second precision; Issue uses now - IssueBackdate when zero
	Expires      time.Time         // required
	Signature    []byte            // ed25519 over the encoding up to the signature line
}

// validate checks every field but the signature.
func (c *Certificate) validate() error {
	const doc = "certificate"
	switch {
	case c.Version != 1:
		return fmt.Errorf("%s: version %d: %w", doc, c.Version, ErrBadVersion)
	case !token(c.Org, 64):
		return fmt.Errorf("%s: field \"org\": want 1-64 of [A-Za-z0-9._-]: %w", doc, ErrBadField)
	case len(c.OrgKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%s: field \"org-key\": %w", doc, ErrBadKey)
	case !validPeerID(c.PeerID):
		return fmt.Errorf("%s: field \"peer\": want 1-128 of [A-Za-z0-9]: %w", doc, ErrBadField)
	case !token(c.Region, 64):
		return fmt.Errorf("%s: field \"region\": want 1-64 of [A-Za-z0-9._-]: %w", doc, ErrBadField)
	case !ValidJurisdiction(c.Jurisdiction):
		return fmt.Errorf("%s: field \"jurisdiction\" %q: %w", doc, trunc(c.Jurisdiction), ErrBadJurisdiction)
	case len(c.Roles) == 0 || len(c.Roles) > maxRoles:
		return fmt.Errorf("%s: field \"roles\": want 1-%d roles: %w", doc, maxRoles, ErrBadField)
	case !token(c.Serial, 64):
		return fmt.Errorf("%s: field \"serial\": want 1-64 of [A-Za-z0-9._-]: %w", doc, ErrBadField)
	case c.Expires.IsZero():
		return fmt.Errorf("%s: field \"expires\": missing: %w", doc, ErrBadField)
	case !c.Expires.After(c.NotBefore):
		return fmt.Errorf("%s: field \"expires\": not after not-before: %w", doc, ErrBadField)
	}
	for i, r := range c.Roles {
		if !token(r, 32) || strings.ContainsRune(r, ',') {
			return fmt.Errorf("%s: field \"roles\": role %d: want 1-32 of [A-Za-z0-9._-]: %w", doc, i, ErrBadField)
		}
		if i > 0 && c.Roles[i-1] >= r {
			return fmt.Errorf("%s: field \"roles\": not sorted and unique: %w", doc, ErrMalformed)
		}
	}
	for _, t := range []time.Time{c.NotBefore, c.Expires} {
		if t.Year() < 2000 || t.Year() > 9999 || !t.Equal(t.Truncate(time.Second)) {
			return fmt.Errorf("%s: times must be whole seconds in years 2000-9999: %w", doc, ErrBadField)
		}
	}
	return nil
}

// signedPart is the canonical encoding without the signature line.
func (c *Certificate) signedPart() []byte {
	b := make([]byte, 0, 512)
	b = append(b, certHeader+"\n"...)
	b = appendField(b, "version", strconv.Itoa(c.Version))
	b = appendField(b, "org", c.Org)
	b = appendField(b, "org-key", FormatOrgPublicKey(c.OrgKey))
	b = appendField(b, "peer", c.PeerID)
	b = appendField(b, "region", c.Region)
	b = appendField(b, "jurisdiction", c.Jurisdiction)
	b = appendField(b, "roles", strings.Join(c.Roles, ","))
	b = appendField(b, "serial", c.Serial)
	b = appendField(b, "not-before", formatTime(c.NotBefore))
	b = appendField(b, "expires", formatTime(c.Expires))
	return b
}

// Marshal returns the canonical encoding of a signed certificate.
func (c *Certificate) Marshal() []byte {
	return appendField(c.signedPart(), "signature", b64.EncodeToString(c.Signature))
}

// IssueBackdate is how far before the current time Issue sets a zero NotBefore.
const IssueBackdate = 5 * time.Minute

// Issue signs c with the organisation key and returns its canonical encoding.
// It fills defaults: Version 1, OrgKey from orgKey, NotBefore the current
// time minus IssueBackdate (times are truncated to the second), a random
// 128-bit hex Serial; roles are sorted and de-duplicated. c is
// taken by value, so the caller's copy is not modified.
func Issue(orgKey ed25519.PrivateKey, c Certificate) ([]byte, error) {
	if len(orgKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("issue certificate: signing key: %w", ErrBadKey)
	}
	pub := OrgPublicKey(orgKey)
	if c.OrgKey != nil && !bytes.Equal(c.OrgKey, pub) {
		return nil, fmt.Errorf("issue certificate: OrgKey differs from the signing key: %w", ErrBadKey)
	}
	c.OrgKey = pub
	if c.Version == 0 {
		c.Version = 1
	}
	if c.NotBefore.IsZero() {
		// Backdated so that nodes whose clocks run a little behind the
		// issuer's accept a certificate issued a moment ago.
		c.NotBefore = time.Now().Add(-IssueBackdate)
	}
	c.NotBefore = c.NotBefore.UTC().Truncate(time.Second)
	c.Expires = c.Expires.UTC().Truncate(time.Second)
	if c.Serial == "" {
		var r [16]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, fmt.Errorf("issue certificate: serial: %w", err)
		}
		c.Serial = hex.EncodeToString(r[:])
	}
	c.Roles = slices.Compact(slices.Sorted(slices.Values(c.Roles)))
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	msg := c.signedPart()
	c.Signature = ed25519.Sign(orgKey, msg)
	return appendField(msg, "signature", b64.EncodeToString(c.Signature)), nil
}

// ParseCertificate decodes a certificate strictly: size limit, header, field
// order, value syntax, jurisdiction code and canonical form are checked. It
// does not check the signature or trust; that is (*Trust).Verify.
func ParseCertificate(b []byte) (*Certificate, error) {
	const doc = "certificate"
	if len(b) > MaxCertificateSize {
		return nil, fmt.Errorf("%s: %d bytes, limit %d: %w", doc, len(b), MaxCertificateSize, ErrTooLarge)
	}
	fs, err := splitFields(doc, b, certHeader)
	if err != nil {
		return nil, err
	}
	if err := expectKeys(doc, fs, certKeys); err != nil {
		return nil, err
	}
	v := func(i int) string { return fs[i].val }
	c := &Certificate{Org: v(1), PeerID: v(3), Region: v(4), Jurisdiction: v(5), Serial: v(7)}
	if c.Version, err = strconv.Atoi(v(0)); err != nil {
		return nil, fmt.Errorf("%s: field \"version\": %w", doc, ErrBadVersion)
	}
	if c.OrgKey, err = ParseOrgPublicKey(v(2)); err != nil {
		return nil, fmt.Errorf("%s: field \"org-key\": %w", doc, err)
	}
	c.Roles = strings.Split(v(6), ",")
	if c.NotBefore, err = parseTime(doc, "not-before", v(8)); err != nil {
		return nil, err
	}
	if c.Expires, err = parseTime(doc, "expires", v(9)); err != nil {
		return nil, err
	}
	if c.Signature, err = parseSig(doc, v(10)); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if !bytes.Equal(c.Marshal(), b) {
		return nil, fmt.Errorf("%s: not in canonical form: %w", doc, ErrMalformed)
	}
	return c, nil
}
