package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Protocol IDs, under /cairn like every Cairn protocol.
const (
	// ProtocolMeshsub is GossipSub v1.2 under Cairn's prefix: a Cairn node
	// never joins a public pubsub mesh by accident.
	ProtocolMeshsub protocol.ID = "/cairn/meshsub/1.2.0"
	// ProtocolState is the catch-up request/answer.
	ProtocolState protocol.ID = "/cairn/gossip-state/1.0.0"
)

// Members tells whether a connected peer is a verified member: *p2p.Host.
type Members interface {
	Member(p peer.ID) (*sovereignty.Member, bool)
}

// Verifier checks the certificate an author carries in its messages:
// *sovereignty.Trust.
type Verifier interface {
	VerifyBytes(cert []byte, peerID string, now time.Time) (*sovereignty.Member, error)
}

// Documents verifies organisation-signed documents before they are relayed,
// without putting them in force. TrustDocuments is the implementation over a
// *sovereignty.Trust. An error wrapping sovereignty.ErrStale ignores the
// message; any other rejects it.
type Documents interface {
	// CheckPolicy returns the signing organisation (the origin) and version.
	CheckPolicy(signed []byte) (origin string, version uint64, err error)
	// CheckRevocations returns the signing organisation and the list's version.
	CheckRevocations(signed []byte) (origin string, version uint64, err error)
}

// Handlers receive every accepted message, from gossip or from catch-up,
// including this node's own. Calls for one kind come one at a time; a handler
// must return quickly. A nil handler skips its kind.
type Handlers struct {
	Policy      func(author peer.ID, signed []byte)
	Revocations func(author peer.ID, signed []byte)
	Certificate func(author peer.ID, cert []byte)
	Intent      func(author peer.ID, in Intent)
	Holdings    func(author peer.ID, h Holdings)
	Advert      func(author peer.ID, a Advert)
	Audit       func(author peer.ID, c Checkpoint)
}

// Deps are the control plane's collaborators.
type Deps struct {
	// Members knows the connected members (forwarders). Required.
	Members Members
	// Verifier checks authors' certificates. Required.
	Verifier Verifier
	// Documents verifies signed policies and revocation lists. Required.
	Documents Documents
	// Certificate is this node's encoded certificate, carried in every
	// message it publishes. Required.
	Certificate []byte
	// CheckAudit, when set, verifies an audit checkpoint before it is
	// relayed; an error rejects it.
	CheckAudit func(author peer.ID, c Checkpoint) error
	// Handlers receive accepted messages.
	Handlers Handlers
	// Tracer, when set, observes pubsub's events (metrics, benchmarks).
	Tracer pubsub.RawTracer
	// Logger receives the logs. Nil: slog.Default().
	Logger *slog.Logger
}

// Gossip is one node's control plane: the topic family of its organisation
// on GossipSub, the validators, the latest state and catch-up.
type Gossip struct {
	h     host.Host
	cfg   Config
	deps  Deps
	log   *slog.Logger
	ps    *pubsub.PubSub
	topic [kindEnd]*pubsub.Topic
	kinds map[string]Kind // topic name → kind
	state *state
	certs certCache

	deliverMu [kindEnd]sync.Mutex
	cert      atomic.Pointer[[]byte]
	seq       atomic.Uint64
	verdicts  [kindEnd][3]atomic.Uint64
	scores    atomic.Pointer[map[peer.ID]float64]

	caughtUp, catching atomic.Bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New starts the control plane on h: GossipSub with strict signing and peer
// scoring, one validated topic per kind, and the catch-up handler. h should
// be the membership-gated host, so streams wait for the hello. Close stops it.
func New(ctx context.Context, h host.Host, cfg Config, deps Deps) (*Gossip, error) {
	if deps.Members == nil || deps.Verifier == nil || deps.Documents == nil || len(deps.Certificate) == 0 {
		return nil, errors.New("gossip: Members, Verifier, Documents and Certificate are required")
	}
	if cfg.Org == "" {
		c, err := sovereignty.ParseCertificate(deps.Certificate)
		if err != nil {
			return nil, fmt.Errorf("gossip: own certificate: %w", err)
		}
		cfg.Org = c.Org
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	g := &Gossip{h: h, cfg: cfg, deps: deps, log: deps.Logger.With("component", "gossip"),
		kinds: map[string]Kind{}, state: newState(cfg.MaxOrigins), certs: certCache{max: cfg.MaxOrigins}, cancel: cancel}
	cert := append([]byte(nil), deps.Certificate...)
	g.cert.Store(&cert)
	if err := g.start(ctx); err != nil {
		cancel()
		return nil, err
	}
	return g, nil
}

func (g *Gossip) start(ctx context.Context) error {
	var names []string
	for _, k := range Kinds() {
		names = append(names, Topic(g.cfg.Org, k))
		g.kinds[names[len(names)-1]] = k
	}
	ps, err := pubsub.NewGossipSub(ctx, g.h, g.options(names)...)
	if err != nil {
		return fmt.Errorf("gossip: start gossipsub: %w", err)
	}
	g.ps = ps
	for _, k := range Kinds() {
		name := Topic(g.cfg.Org, k)
		if err := ps.RegisterTopicValidator(name, g.validator(k)); err != nil {
			return fmt.Errorf("gossip: validator of %s: %w", name, err)
		}
		t, err := ps.Join(name)
		if err != nil {
			return fmt.Errorf("gossip: join %s: %w", name, err)
		}
		g.topic[k] = t
		sub, err := t.Subscribe(pubsub.WithBufferSize(256))
		if err != nil {
			return fmt.Errorf("gossip: subscribe %s: %w", name, err)
		}
		g.wg.Add(1)
		go g.receive(ctx, k, sub)
	}
	g.h.SetStreamHandler(ProtocolState, g.handleState)
	if !g.cfg.DisableCatchUp {
		if err := g.watch(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close leaves the topics and stops the catch-up handler. The host stays up.
func (g *Gossip) Close() error {
	g.h.RemoveStreamHandler(ProtocolState)
	g.cancel()
	g.wg.Wait()
	for _, t := range g.topic {
		if t != nil {
			_ = t.Close()
		}
	}
	return nil
}

// receive delivers one topic's accepted messages to the handlers.
func (g *Gossip) receive(ctx context.Context, k Kind, sub *pubsub.Subscription) {
	defer g.wg.Done()
	defer sub.Cancel()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if u, ok := m.ValidatorData.(*update); ok {
			g.deliver(k, u)
		}
	}
}

// update is what a validator hands to delivery: the decoded message.
type update struct {
	author peer.ID
	value  any
}

func (g *Gossip) deliver(k Kind, u *update) {
	g.deliverMu[k].Lock()
	defer g.deliverMu[k].Unlock()
	hs := g.deps.Handlers
	switch v := u.value.(type) {
	case []byte:
		switch {
		case k == KindPolicy && hs.Policy != nil:
			hs.Policy(u.author, v)
		case k == KindRevocations:
			if hs.Revocations != nil {
				hs.Revocations(u.author, v)
			}
			// The handler installed the list: certificates verified before
			// it may be revoked now.
			g.certs.clear()
		case k == KindCertificate && hs.Certificate != nil:
			hs.Certificate(u.author, v)
		}
	case Intent:
		if hs.Intent != nil {
			hs.Intent(u.author, v)
		}
	case Holdings:
		if hs.Holdings != nil {
			hs.Holdings(u.author, v)
		}
	case Advert:
		if hs.Advert != nil {
			hs.Advert(u.author, v)
		}
	case Checkpoint:
		if hs.Audit != nil {
			hs.Audit(u.author, v)
		}
	}
}

// PublishPolicy gossips a signed policy envelope.
func (g *Gossip) PublishPolicy(ctx context.Context, signed []byte) error {
	return g.publish(ctx, KindPolicy, signed)
}

// PublishRevocations gossips a signed revocation list.
func (g *Gossip) PublishRevocations(ctx context.Context, signed []byte) error {
	return g.publish(ctx, KindRevocations, signed)
}

// PublishCertificate makes cert (a renewal of this node's certificate) the
// one carried in later messages and gossips it.
func (g *Gossip) PublishCertificate(ctx context.Context, cert []byte) error {
	c := append([]byte(nil), cert...)
	g.cert.Store(&c)
	return g.publish(ctx, KindCertificate, nil)
}

// PublishIntent gossips a pin intent; Version 0 picks the next sequence.
func (g *Gossip) PublishIntent(ctx context.Context, in Intent) error {
	if in.Version == 0 {
		in.Version = g.nextSeq()
	}
	b, err := EncodeIntent(in)
	if err != nil {
		return err
	}
	return g.publish(ctx, KindIntent, b)
}

// PublishHoldings gossips this node's holdings summary; Seq 0 picks the next.
func (g *Gossip) PublishHoldings(ctx context.Context, h Holdings) error {
	if h.Seq == 0 {
		h.Seq = g.nextSeq()
	}
	b, err := EncodeHoldings(h)
	if err != nil {
		return err
	}
	return g.publish(ctx, KindHoldings, b)
}

// PublishAdvert gossips this node's model advert; Seq 0 picks the next.
func (g *Gossip) PublishAdvert(ctx context.Context, a Advert) error {
	if a.Seq == 0 {
		a.Seq = g.nextSeq()
	}
	b, err := EncodeAdvert(a)
	if err != nil {
		return err
	}
	return g.publish(ctx, KindAdvert, b)
}

// PublishAudit gossips an audit checkpoint.
func (g *Gossip) PublishAudit(ctx context.Context, c Checkpoint) error {
	b, err := EncodeCheckpoint(c)
	if err != nil {
		return err
	}
	return g.publish(ctx, KindAudit, b)
}

// publish checks the message as a receiver would (to return the reason, which
// pubsub's local validation does not give) and publishes it.
func (g *Gossip) publish(ctx context.Context, k Kind, body []byte) error {
	data := encodeEnvelope(envelope{Kind: k, Cert: *g.cert.Load(), Body: body})
	if _, err := g.examine(k, g.h.ID(), g.h.ID(), data); err != nil {
		return fmt.Errorf("gossip: publish %s: %w", k, err)
	}
	if err := g.topic[k].Publish(ctx, data); err != nil {
		return fmt.Errorf("gossip: publish %s: %w", k, err)
	}
	return nil
}

// nextSeq is strictly increasing and never below the clock in nanoseconds,
// so a restarted node's sequences move forward too.
func (g *Gossip) nextSeq() uint64 {
	for {
		last := g.seq.Load()
		next := max(last+1, uint64(time.Now().UnixNano()))
		if g.seq.CompareAndSwap(last, next) {
			return next
		}
	}
}

// WaitPeers waits until at least n peers subscribe to kind k's topic, or ctx
// ends.
func (g *Gossip) WaitPeers(ctx context.Context, k Kind, n int) error {
	eh, err := g.topic[k].EventHandler()
	if err != nil {
		return err
	}
	defer eh.Cancel()
	for len(g.topic[k].ListPeers()) < n {
		// ListPeers counts a subscribed peer only once pubsub has a send
		// queue for it, which may come after its join event: look again
		// at least every 100 ms.
		ectx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, _ = eh.NextPeerEvent(ectx)
		cancel()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gossip: waiting for %d %s peers: %w", n, k, err)
		}
	}
	return nil
}

// TopicPeers returns the peers subscribed to kind k's topic.
func (g *Gossip) TopicPeers(k Kind) []peer.ID { return g.topic[k].ListPeers() }

// Verdicts counts the messages of kind k this node accepted, ignored and
// rejected (gossip and catch-up; its own included).
func (g *Gossip) Verdicts(k Kind) (accepted, ignored, rejected uint64) {
	v := &g.verdicts[k]
	return v[0].Load(), v[2].Load(), v[1].Load()
}

// Scores returns the peer scores as of the last inspection (Config.ScoreInspect).
func (g *Gossip) Scores() map[peer.ID]float64 {
	if m := g.scores.Load(); m != nil {
		return maps.Clone(*m)
	}
	return map[peer.ID]float64{}
}

// Holdings returns the latest holdings summary of every node heard from.
func (g *Gossip) Holdings() map[peer.ID]Holdings {
	out := map[peer.ID]Holdings{}
	for _, e := range g.state.entries(KindHoldings) {
		out[e.author] = e.value.(Holdings)
	}
	return out
}

// Holders returns the nodes whose latest holdings list key, fully or in part.
func (g *Gossip) Holders(key string) (full, partial []peer.ID) {
	for p, h := range g.Holdings() {
		for _, x := range h.Held {
			if x.Key != key {
				continue
			}
			if x.Partial {
				partial = append(partial, p)
			} else {
				full = append(full, p)
			}
			break
		}
	}
	return full, partial
}

// Adverts returns the latest advert of every node heard from.
func (g *Gossip) Adverts() map[peer.ID]Advert {
	out := map[peer.ID]Advert{}
	for _, e := range g.state.entries(KindAdvert) {
		out[e.author] = e.value.(Advert)
	}
	return out
}

// RecentAdverts returns the latest advert of every node whose advert this
// node accepted within ttl and which was published within ttl (its Seq
// counts nanoseconds of the author's clock): a catch-up hands on an
// old advert of a node gone since, which must not count as fresh.
func (g *Gossip) RecentAdverts(ttl time.Duration) map[peer.ID]Advert {
	out := map[peer.ID]Advert{}
	now := time.Now()
	for _, e := range g.state.entries(KindAdvert) {
		a := e.value.(Advert)
		if now.Sub(e.at) < ttl && now.Sub(time.Unix(0, int64(min(a.Seq, math.MaxInt64)))) < ttl {
			out[e.author] = a
		}
	}
	return out
}

// Intents returns the winning intent of every key heard of, with its author.
func (g *Gossip) Intents() map[string]AuthoredIntent {
	out := map[string]AuthoredIntent{}
	for key, e := range g.state.entries(KindIntent) {
		out[key] = AuthoredIntent{Intent: e.value.(Intent), By: e.author}
	}
	return out
}

// AuthoredIntent is an intent and the node that published it.
type AuthoredIntent struct {
	Intent
	By peer.ID
}
