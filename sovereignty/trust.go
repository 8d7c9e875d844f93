package sovereignty

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Member is what a verified certificate tells about a peer; policy decisions
// take it as input. Callers that authorise something other than a peer (an
// HTTP token bound to a jurisdiction, say) may build one directly.
type Member struct {
	PeerID       string
	Org          string
	OrgKey       ed25519.PublicKey
	Region       string
	Jurisdiction string
	Roles        []string
	Serial       string
	Expires      time.Time
}

// HasRole reports whether the member's certificate lists role r.
func (m *Member) HasRole(r string) bool { return m != nil && slices.Contains(m.Roles, r) }

// Trust is the set of trusted organisation keys and their revocation lists.
// It is safe for concurrent use: the connection gater calls Verify while
// gossip calls AddRevocations.
type Trust struct {
	mu   sync.RWMutex
	orgs map[[32]byte]bool
	revs map[[32]byte]*revState
}

type revState struct {
	version uint64
	serials map[string]bool
	signed  []byte
}

// NewTrust returns a trust set holding the given organisation public keys.
func NewTrust(orgKeys ...ed25519.PublicKey) (*Trust, error) {
	t := &Trust{orgs: map[[32]byte]bool{}, revs: map[[32]byte]*revState{}}
	for _, k := range orgKeys {
		if err := t.AddOrg(k); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// AddOrg trusts one more organisation key.
func (t *Trust) AddOrg(k ed25519.PublicKey) error {
	if len(k) != ed25519.PublicKeySize {
		return fmt.Errorf("trust: add organisation: %w", ErrBadKey)
	}
	t.mu.Lock()
	t.orgs[[32]byte(k)] = true
	t.mu.Unlock()
	return nil
}

// Trusted reports whether k is a trusted organisation key. A nil Trust
// trusts nothing.
func (t *Trust) Trusted(k ed25519.PublicKey) bool {
	if t == nil || len(k) != ed25519.PublicKeySize {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.orgs[[32]byte(k)]
}

// Orgs returns the trusted organisation keys.
func (t *Trust) Orgs() []ed25519.PublicKey {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]ed25519.PublicKey, 0, len(t.orgs))
	for k := range t.orgs {
		out = append(out, ed25519.PublicKey(bytes.Clone(k[:])))
	}
	slices.SortFunc(out, func(a, b ed25519.PublicKey) int { return bytes.Compare(a, b) })
	return out
}

// Verify checks that c was signed by a trusted organisation, is issued to
// peerID, is valid at now and is not revoked. Errors, checked in this order,
// wrap ErrBadVersion/ErrBadField (structure), ErrUntrustedOrg,
// ErrBadSignature, ErrWrongPeer, ErrNotYetValid, ErrExpired, ErrRevoked.
func (t *Trust) Verify(c *Certificate, peerID string, now time.Time) (*Member, error) {
	if c == nil {
		return nil, fmt.Errorf("verify certificate: nil: %w", ErrMalformed)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if !t.Trusted(c.OrgKey) {
		return nil, fmt.Errorf("verify certificate %s of org %q (%s): %w", c.Serial, c.Org, FormatOrgPublicKey(c.OrgKey), ErrUntrustedOrg)
	}
	if len(c.Signature) != ed25519.SignatureSize || !ed25519.Verify(c.OrgKey, c.signedPart(), c.Signature) {
		return nil, fmt.Errorf("verify certificate %s of org %q: %w", c.Serial, c.Org, ErrBadSignature)
	}
	if c.PeerID != peerID {
		return nil, fmt.Errorf("verify certificate %s: issued to %s, presented by %s: %w", c.Serial, c.PeerID, trunc(peerID), ErrWrongPeer)
	}
	if now.Before(c.NotBefore) {
		return nil, fmt.Errorf("verify certificate %s: valid from %s: %w", c.Serial, formatTime(c.NotBefore), ErrNotYetValid)
	}
	if !now.Before(c.Expires) {
		return nil, fmt.Errorf("verify certificate %s: expired at %s: %w", c.Serial, formatTime(c.Expires), ErrExpired)
	}
	if t.Revoked(c.OrgKey, c.Serial) {
		return nil, fmt.Errorf("verify certificate %s of org %q: %w", c.Serial, c.Org, ErrRevoked)
	}
	return &Member{
		PeerID: c.PeerID, Org: c.Org, OrgKey: bytes.Clone(c.OrgKey), Region: c.Region,
		Jurisdiction: c.Jurisdiction, Roles: slices.Clone(c.Roles), Serial: c.Serial, Expires: c.Expires,
	}, nil
}

// VerifyBytes parses and verifies an encoded certificate: what the p2p layer
// calls with the bytes a peer presented and the peer ID of the connection.
func (t *Trust) VerifyBytes(b []byte, peerID string, now time.Time) (*Member, error) {
	c, err := ParseCertificate(b)
	if err != nil {
		return nil, err
	}
	return t.Verify(c, peerID, now)
}

// Revoked reports whether serial is on the revocation list held for orgKey.
func (t *Trust) Revoked(orgKey ed25519.PublicKey, serial string) bool {
	if t == nil || len(orgKey) != ed25519.PublicKeySize {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := t.revs[[32]byte(orgKey)]
	return r != nil && r.serials[serial]
}

// AddRevocations installs a signed revocation list. Each list is complete: a
// newer version replaces the older one. It accepts only lists signed by a
// trusted organisation (ErrUntrustedOrg, ErrBadSignature) and newer than the
// one held (ErrStale), so gossip may deliver the same list many times.
func (t *Trust) AddRevocations(signed []byte) error {
	r, err := ParseRevocations(signed)
	if err != nil {
		return err
	}
	if !t.Trusted(r.OrgKey) {
		return fmt.Errorf("revocations of org %q (%s): %w", r.Org, FormatOrgPublicKey(r.OrgKey), ErrUntrustedOrg)
	}
	if !ed25519.Verify(r.OrgKey, r.signedPart(), r.Signature) {
		return fmt.Errorf("revocations of org %q version %d: %w", r.Org, r.Version, ErrBadSignature)
	}
	st := &revState{version: r.Version, serials: make(map[string]bool, len(r.Serials)), signed: bytes.Clone(signed)}
	for _, s := range r.Serials {
		st.serials[s] = true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := [32]byte(r.OrgKey)
	if cur := t.revs[k]; cur != nil && cur.version >= r.Version {
		return fmt.Errorf("revocations of org %q: version %d, holding %d: %w", r.Org, r.Version, cur.version, ErrStale)
	}
	t.revs[k] = st
	return nil
}

// RevocationList returns the signed revocation list held for orgKey and its
// version (nil, 0 when none), for persisting and re-gossiping.
func (t *Trust) RevocationList(orgKey ed25519.PublicKey) ([]byte, uint64) {
	if len(orgKey) != ed25519.PublicKeySize {
		return nil, 0
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := t.revs[[32]byte(orgKey)]
	if r == nil {
		return nil, 0
	}
	return bytes.Clone(r.signed), r.version
}

const (
	revHeader = "cairn-revocations-v1"
	// MaxRevocationsSize bounds ParseRevocations' input.
	MaxRevocationsSize = 1 << 20
)

// Revocations is an organisation's complete list of revoked certificate
// serials. Encoding:
//
//	cairn-revocations-v1
//	org: acme
//	org-key: cairn-org:...
//	version: 3
//	issued: 2026-11-26T00:00:00Z
//	serial: 3f9c...        (zero or more, sorted, unique)
//	signature: ...
type Revocations struct {
	Org       string            // organisation name
	OrgKey    ed25519.PublicKey // signer; SignRevocations fills it
	Version   uint64            // must grow with each new list; 0 is invalid
	Serials   []string          // revoked serials; SignRevocations sorts and de-duplicates
	Issued    time.Time         // SignRevocations uses the current time when zero
	Signature []byte
}

func (r *Revocations) validate() error {
	const doc = "revocations"
	switch {
	case !token(r.Org, 64):
		return fmt.Errorf("%s: field \"org\": want 1-64 of [A-Za-z0-9._-]: %w", doc, ErrBadField)
	case len(r.OrgKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%s: field \"org-key\": %w", doc, ErrBadKey)
	case r.Version == 0:
		return fmt.Errorf("%s: field \"version\": must be at least 1: %w", doc, ErrBadField)
	case r.Issued.Year() < 2000 || r.Issued.Year() > 9999 || !r.Issued.Equal(r.Issued.Truncate(time.Second)):
		return fmt.Errorf("%s: field \"issued\": %w", doc, ErrBadField)
	}
	for i, s := range r.Serials {
		if !token(s, 64) {
			return fmt.Errorf("%s: serial %d: want 1-64 of [A-Za-z0-9._-]: %w", doc, i, ErrBadField)
		}
		if i > 0 && r.Serials[i-1] >= s {
			return fmt.Errorf("%s: serials not sorted and unique at %d: %w", doc, i, ErrMalformed)
		}
	}
	return nil
}

func (r *Revocations) signedPart() []byte {
	b := make([]byte, 0, 256+len(r.Serials)*48)
	b = append(b, revHeader+"\n"...)
	b = appendField(b, "org", r.Org)
	b = appendField(b, "org-key", FormatOrgPublicKey(r.OrgKey))
	b = appendField(b, "version", strconv.FormatUint(r.Version, 10))
	b = appendField(b, "issued", formatTime(r.Issued))
	for _, s := range r.Serials {
		b = appendField(b, "serial", s)
	}
	return b
}

// SignRevocations signs r with the organisation key and returns its encoding.
func SignRevocations(orgKey ed25519.PrivateKey, r Revocations) ([]byte, error) {
	if len(orgKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign revocations: signing key: %w", ErrBadKey)
	}
	pub := OrgPublicKey(orgKey)
	if r.OrgKey != nil && !bytes.Equal(r.OrgKey, pub) {
		return nil, fmt.Errorf("sign revocations: OrgKey differs from the signing key: %w", ErrBadKey)
	}
	r.OrgKey = pub
	if r.Issued.IsZero() {
		r.Issued = time.Now()
	}
	r.Issued = r.Issued.UTC().Truncate(time.Second)
	r.Serials = slices.Compact(slices.Sorted(slices.Values(r.Serials)))
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	msg := r.signedPart()
	r.Signature = ed25519.Sign(orgKey, msg)
	if len(msg)+100 > MaxRevocationsSize {
		return nil, fmt.Errorf("sign revocations: %d serials: %w", len(r.Serials), ErrTooLarge)
	}
	return appendField(msg, "signature", b64.EncodeToString(r.Signature)), nil
}

// ParseRevocations decodes a revocation list strictly; it does not check the
// signature (AddRevocations does).
func ParseRevocations(b []byte) (*Revocations, error) {
	const doc = "revocations"
	if len(b) > MaxRevocationsSize {
		return nil, fmt.Errorf("%s: %d bytes, limit %d: %w", doc, len(b), MaxRevocationsSize, ErrTooLarge)
	}
	fs, err := splitFields(doc, b, revHeader)
	if err != nil {
		return nil, err
	}
	head := []string{"org", "org-key", "version", "issued"}
	if len(fs) < len(head)+1 {
		return nil, fmt.Errorf("%s: too few fields: %w", doc, ErrMalformed)
	}
	// Serial lines repeat; check the fixed keys around them.
	keys := append(slices.Clone(head), make([]string, len(fs)-len(head)-1)...)
	for i := len(head); i < len(fs)-1; i++ {
		keys[i] = "serial"
	}
	keys = append(keys, "signature")
	for i, f := range fs {
		if !slices.Contains(head, f.key) && f.key != "serial" && f.key != "signature" {
			return nil, fmt.Errorf("%s: field %q: %w", doc, f.key, ErrUnknownField)
		}
		if f.key != keys[i] {
			return nil, fmt.Errorf("%s: field %q out of order (want %q at position %d): %w", doc, f.key, keys[i], i+1, ErrMalformed)
		}
	}
	r := &Revocations{Org: fs[0].val}
	if r.OrgKey, err = ParseOrgPublicKey(fs[1].val); err != nil {
		return nil, fmt.Errorf("%s: field \"org-key\": %w", doc, err)
	}
	if r.Version, err = strconv.ParseUint(fs[2].val, 10, 64); err != nil {
		return nil, fmt.Errorf("%s: field \"version\": %w", doc, ErrBadField)
	}
	if r.Issued, err = parseTime(doc, "issued", fs[3].val); err != nil {
		return nil, err
	}
	for _, f := range fs[len(head) : len(fs)-1] {
		r.Serials = append(r.Serials, f.val)
	}
	if r.Signature, err = parseSig(doc, fs[len(fs)-1].val); err != nil {
		return nil, err
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	if !bytes.Equal(appendField(r.signedPart(), "signature", b64.EncodeToString(r.Signature)), b) {
		return nil, fmt.Errorf("%s: not in canonical form: %w", doc, ErrMalformed)
	}
	return r, nil
}

// Revoke returns the organisation's next revocation list: the serials of
// prev (its current signed list, nil for the first) plus serials, with the
// version one higher. prev must verify under orgKey, so a list is never
// extended from someone else's.
func Revoke(orgKey ed25519.PrivateKey, org string, prev []byte, serials ...string) ([]byte, error) {
	if len(orgKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("revoke: signing key: %w", ErrBadKey)
	}
	next := Revocations{Org: org, Version: 1, Serials: serials}
	if prev != nil {
		p, err := ParseRevocations(prev)
		if err != nil {
			return nil, fmt.Errorf("revoke: previous list: %w", err)
		}
		if !bytes.Equal(p.OrgKey, OrgPublicKey(orgKey)) || !ed25519.Verify(p.OrgKey, p.signedPart(), p.Signature) {
			return nil, fmt.Errorf("revoke: previous list not signed by this key: %w", ErrBadSignature)
		}
		if org == "" {
			next.Org = p.Org
		}
		next.Version = p.Version + 1
		next.Serials = append(slices.Clone(p.Serials), serials...)
	}
	return SignRevocations(orgKey, next)
}
