package gossip

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

var (
	// ErrNotMember: the forwarder or the author is not a member.
	ErrNotMember = errors.New("gossip: not a member")
	// ErrTooLarge: a message exceeds its kind's limit.
	ErrTooLarge = errors.New("gossip: message too large")
	// ErrStale: a message's version is not newer than the one held for its
	// origin; such a message is ignored, its sender not penalised.
	ErrStale = errors.New("gossip: not newer than the version held")
	// ErrFull: the kind already tracks Config.MaxOrigins origins.
	ErrFull = errors.New("gossip: too many origins")
)

// verdict maps a check's error to pubsub's decision. Errors a correct relay
// could not have caught (a revocation or an expiry it had not seen yet, a
// version it had not seen superseded, a full table) ignore; the rest reject
// and count against the peer that sent it.
func verdict(err error) pubsub.ValidationResult {
	switch {
	case err == nil:
		return pubsub.ValidationAccept
	case errors.Is(err, ErrStale), errors.Is(err, ErrFull), errors.Is(err, sovereignty.ErrStale),
		errors.Is(err, sovereignty.ErrRevoked), errors.Is(err, sovereignty.ErrExpired),
		errors.Is(err, sovereignty.ErrNotYetValid):
		return pubsub.ValidationIgnore
	}
	return pubsub.ValidationReject
}

// validator is kind k's topic validator: it runs before a message is relayed
// or delivered.
func (g *Gossip) validator(k Kind) pubsub.ValidatorEx {
	return func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		return g.validate(k, from, m)
	}
}

// validate checks m, and when it is accepted records it as the latest of its
// origin and hands the decoded value to delivery through m.ValidatorData.
func (g *Gossip) validate(k Kind, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	c, err := g.examine(k, from, m.GetFrom(), m.Data)
	if err == nil {
		var raw []byte
		if k != KindAudit { // audit checkpoints are events, not state to catch up on
			raw, err = proto.Marshal(m.Message)
		}
		if err == nil {
			err = g.state.advance(k, c.origin, c.ver, &entry{author: m.GetFrom(), value: c.value, raw: raw, at: time.Now()})
		}
	}
	res := verdict(err)
	g.verdicts[k][res].Add(1)
	switch res {
	case pubsub.ValidationAccept:
		m.ValidatorData = &update{author: m.GetFrom(), value: c.value}
	case pubsub.ValidationIgnore:
		g.log.Debug("message ignored", "kind", k, "from", from, "author", m.GetFrom(), "err", err)
	default:
		g.log.Warn("message rejected", "kind", k, "from", from, "author", m.GetFrom(), "err", err)
	}
	return res
}

// checked is a message that passed every check but the version's.
type checked struct {
	origin string
	ver    version
	value  any
}

// examine runs every check on a message's data but records nothing: the
// size bound, the forwarder's and the author's membership, the body, and
// that its version is newer than the one held.
func (g *Gossip) examine(k Kind, from, author peer.ID, data []byte) (checked, error) {
	if len(data) > g.cfg.limit(k) {
		return checked{}, fmt.Errorf("%w: %s message of %d bytes, limit %d", ErrTooLarge, k, len(data), g.cfg.limit(k))
	}
	if from != g.h.ID() {
		if _, ok := g.deps.Members.Member(from); !ok {
			return checked{}, fmt.Errorf("%w: forwarder %s", ErrNotMember, from)
		}
	}
	e, err := decodeEnvelope(data)
	if err != nil {
		return checked{}, err
	}
	if e.Kind != k {
		return checked{}, fmt.Errorf("%w: a %s message on the %s topic", ErrMalformed, e.Kind, k)
	}
	if err := g.certs.verify(g.deps.Verifier, e.Cert, author); err != nil {
		return checked{}, fmt.Errorf("%w: author %s: %w", ErrNotMember, author, err)
	}
	c, err := g.body(k, author, e)
	if err != nil {
		return checked{}, err
	}
	if !g.state.newer(k, c.origin, c.ver) {
		return checked{}, fmt.Errorf("%w: %s of %.40s version %d", ErrStale, k, c.origin, c.ver.n)
	}
	return c, nil
}

// body decodes and checks a message's body: what it is about (its origin),
// its version and value.
func (g *Gossip) body(k Kind, author peer.ID, e envelope) (checked, error) {
	self := author.String()
	switch k {
	case KindPolicy, KindRevocations:
		check := g.deps.Documents.CheckPolicy
		if k == KindRevocations {
			check = g.deps.Documents.CheckRevocations
		}
		origin, v, err := check(e.Body)
		if err != nil {
			return checked{}, fmt.Errorf("%s: %w", k, err)
		}
		return checked{origin: origin, ver: version{n: v}, value: e.Body}, nil
	case KindCertificate:
		if len(e.Body) != 0 {
			return checked{}, fmt.Errorf("%w: certificate message with a body", ErrMalformed)
		}
		c, err := sovereignty.ParseCertificate(e.Cert)
		if err != nil || c.NotBefore.Unix() <= 0 {
			return checked{}, fmt.Errorf("%w: certificate: %w", ErrMalformed, err)
		}
		return checked{origin: self, ver: version{n: uint64(c.NotBefore.Unix())}, value: e.Cert}, nil
	case KindIntent:
		in, err := DecodeIntent(e.Body)
		// Of two intents with one version, every node keeps the same one.
		return checked{origin: in.Key, ver: version{n: in.Version, tie: self + "\x00" + string('0'+boolByte(in.Removed))}, value: in}, err
	case KindHoldings:
		h, err := DecodeHoldings(e.Body)
		return checked{origin: self, ver: version{n: h.Seq}, value: h}, err
	case KindAdvert:
		a, err := DecodeAdvert(e.Body)
		return checked{origin: self, ver: version{n: a.Seq}, value: a}, err
	case KindAudit:
		c, err := DecodeCheckpoint(e.Body)
		if err == nil && g.deps.CheckAudit != nil {
			err = g.deps.CheckAudit(author, c)
		}
		return checked{origin: self, ver: version{n: c.Seq}, value: c}, err
	}
	return checked{}, fmt.Errorf("%w: kind %d", ErrMalformed, k)
}

// version orders the messages of one origin: the greater n, then the greater tie.
type version struct {
	n   uint64
	tie string
}

func (a version) newer(b version) bool {
	if a.n != b.n {
		return a.n > b.n
	}
	return a.tie > b.tie
}

// entry is the latest accepted message of one origin.
type entry struct {
	ver    version
	author peer.ID
	value  any
	raw    []byte    // the signed pubsub message, handed on in catch-up; nil for audit
	at     time.Time // when this node accepted it
}

// state holds the latest accepted message per kind and origin.
type state struct {
	mu  sync.Mutex
	max int
	m   [kindEnd]map[string]*entry
}

func newState(max int) *state {
	s := &state{max: max}
	for k := range s.m {
		s.m[k] = map[string]*entry{}
	}
	return s
}

func (s *state) newer(k Kind, origin string, v version) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[k][origin]
	return !ok || v.newer(cur.ver)
}

// advance records e as origin's latest unless it is not newer (ErrStale) or
// the kind is full (ErrFull). Validators run concurrently: this is the one
// place the decision is made.
func (s *state) advance(k Kind, origin string, v version, e *entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[k][origin]
	switch {
	case ok && !v.newer(cur.ver):
		return fmt.Errorf("%w: %s of %.40s version %d, holding %d", ErrStale, k, origin, v.n, cur.ver.n)
	case !ok && len(s.m[k]) >= s.max:
		return fmt.Errorf("%w: %s: %d origins", ErrFull, k, len(s.m[k]))
	}
	e.ver = v
	s.m[k][origin] = e
	return nil
}

func (s *state) entries(k Kind) map[string]*entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*entry, len(s.m[k]))
	for o, e := range s.m[k] {
		out[o] = e
	}
	return out
}

// raws returns the stored messages of kinds, in order, while they fit in
// budget bytes.
func (s *state) raws(kinds []Kind, budget int64) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, k := range kinds {
		for _, e := range s.m[k] {
			if e.raw == nil {
				continue
			}
			if budget -= int64(len(e.raw)) + 10; budget < 0 {
				return out
			}
			out = append(out, e.raw)
		}
	}
	return out
}

// certTTL bounds how long a verified certificate is taken as verified
// without checking it again; revocations arriving here clear the cache at
// once, and the node clears it (ForgetCertificates) when its trust set
// changes otherwise.
const certTTL = time.Minute

// certCache remembers certificates verified for their authors: every
// message carries its author's certificate, and an ed25519 check per
// message and hop is the largest cost of validation.
type certCache struct {
	mu  sync.Mutex
	max int
	m   map[string]time.Time // author and certificate → valid until
	// authors are the members the certificates last verified say the
	// authors are: what handlers need to know of a node not connected.
	authors map[peer.ID]*sovereignty.Member
}

func (c *certCache) verify(v Verifier, cert []byte, author peer.ID) error {
	key := string(author) + "\x00" + string(cert)
	now := time.Now()
	c.mu.Lock()
	until, ok := c.m[key]
	_, known := c.authors[author]
	c.mu.Unlock()
	if ok && known && now.Before(until) {
		return nil
	}
	m, err := v.VerifyBytes(cert, author.String(), now)
	if err != nil {
		return err
	}
	until = now.Add(certTTL)
	if m != nil && !m.Expires.IsZero() && m.Expires.Before(until) {
		until = m.Expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = map[string]time.Time{}
		c.authors = map[peer.ID]*sovereignty.Member{}
	}
	c.m[key] = until
	if m != nil {
		c.authors[author] = m
	}
	return nil
}

func (c *certCache) clear() {
	c.mu.Lock()
	c.m, c.authors = nil, nil
	c.mu.Unlock()
}

// Author returns the membership an author's certificate proved when its
// last message was verified (connected or not), as a handler sees it.
func (g *Gossip) Author(p peer.ID) (*sovereignty.Member, bool) {
	g.certs.mu.Lock()
	defer g.certs.mu.Unlock()
	m, ok := g.certs.authors[p]
	return m, ok
}

// ForgetCertificates makes every author's certificate be verified again on
// its next message: call it when the trust set changes (a revocation list
// installed from elsewhere, an organisation added or removed).
func (g *Gossip) ForgetCertificates() { g.certs.clear() }
