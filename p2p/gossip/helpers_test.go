package gossip

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// wait bounds every wait in these tests.
const wait = 20 * time.Second

const policyDoc = "repos:\n  - match: '*'\n    hold: [DE]\n    receive: [DE]\n"

// org is a test organisation: its key, a trust set holding it, and the peers
// it issued certificates to.
type org struct {
	key   ed25519.PrivateKey
	trust *sovereignty.Trust
	mu    sync.Mutex
	peers map[peer.ID]bool
}

func newOrg(t testing.TB) *org {
	t.Helper()
	k, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := sovereignty.NewTrust(sovereignty.OrgPublicKey(k))
	if err != nil {
		t.Fatal(err)
	}
	return &org{key: k, trust: tr, peers: map[peer.ID]bool{}}
}

func (o *org) issue(t testing.TB, p peer.ID) []byte {
	t.Helper()
	c, err := sovereignty.Issue(o.key, sovereignty.Certificate{Org: "acme", PeerID: p.String(), Region: "eu",
		Jurisdiction: "DE", Roles: []string{"mirror"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	o.peers[p] = true
	o.mu.Unlock()
	return c
}

// Member: the organisation's members stand for the connected verified
// members a *p2p.Host reports.
func (o *org) Member(p peer.ID) (*sovereignty.Member, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.peers[p] {
		return nil, false
	}
	return &sovereignty.Member{PeerID: p.String(), Org: "acme"}, true
}

func (o *org) policy(t testing.TB, v uint64) []byte {
	t.Helper()
	b, err := sovereignty.SignPolicy(o.key, []byte(policyDoc), v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lax stands for a dishonest node's checks: it accepts anyone and any
// document that parses, signature or not.
type lax struct{}

func (lax) Member(p peer.ID) (*sovereignty.Member, bool) { return &sovereignty.Member{}, true }
func (lax) VerifyBytes([]byte, string, time.Time) (*sovereignty.Member, error) {
	return &sovereignty.Member{}, nil
}
func (lax) CheckPolicy(b []byte) (string, uint64, error) {
	p, err := sovereignty.ParseSignedPolicy(b)
	if err != nil {
		return "", 0, err
	}
	return "org", p.Version, nil
}
func (lax) CheckRevocations(b []byte) (string, uint64, error) { return "org", 1, nil }

// hevent is one handler call.
type hevent struct {
	kind   Kind
	author peer.ID
	value  any
}

// node is a libp2p host on 127.0.0.1 with a control plane.
type node struct {
	h      host.Host
	g      *Gossip
	mesh   *meshTracer
	cert   []byte
	events chan hevent
}

type nodeOpt struct {
	cfg     Config
	honest  bool // real checks against o's trust set; false: lax
	catchUp bool
	issuer  *org // who issues the node's certificate; nil: o
}

func newNode(t testing.TB, o *org, opt nodeOpt) *node {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	n := &node{h: h, events: make(chan hevent, 1024)}
	rec := func(k Kind) func(peer.ID, any) {
		return func(a peer.ID, v any) {
			select {
			case n.events <- hevent{k, a, v}:
			default:
				t.Errorf("%s: hevent buffer full", h.ID())
			}
		}
	}
	hs := Handlers{
		Policy:      func(a peer.ID, b []byte) { rec(KindPolicy)(a, b) },
		Revocations: func(a peer.ID, b []byte) { rec(KindRevocations)(a, b) },
		Certificate: func(a peer.ID, b []byte) { rec(KindCertificate)(a, b) },
		Intent:      func(a peer.ID, in Intent) { rec(KindIntent)(a, in) },
		Holdings:    func(a peer.ID, x Holdings) { rec(KindHoldings)(a, x) },
		Advert:      func(a peer.ID, x Advert) { rec(KindAdvert)(a, x) },
		Audit:       func(a peer.ID, x Checkpoint) { rec(KindAudit)(a, x) },
	}
	issuer := opt.issuer
	if issuer == nil {
		issuer = o
	}
	cert := issuer.issue(t, h.ID())
	n.cert = cert
	deps := Deps{Members: lax{}, Verifier: lax{}, Documents: lax{}, Certificate: cert, Handlers: hs,
		Logger: slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	n.mesh = newMeshTracer()
	deps.Tracer = n.mesh
	if opt.honest {
		deps.Members, deps.Verifier, deps.Documents = o, o.trust, TrustDocuments{o.trust}
	}
	cfg := opt.cfg
	cfg.Org = "acme"
	cfg.DisableCatchUp = !opt.catchUp
	if cfg.ScoreInspect == 0 {
		cfg.ScoreInspect = 50 * time.Millisecond
	}
	g, err := New(context.Background(), h, cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	n.g = g
	return n
}

func honest(t testing.TB, o *org, n int) []*node {
	out := make([]*node, n)
	for i := range out {
		out[i] = newNode(t, o, nodeOpt{honest: true})
	}
	return out
}

func connect(t testing.TB, a, b *node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := a.h.Connect(ctx, peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// chain connects each node only to the next and waits until every node
// sees its neighbours on every topic of kinds.
func chain(t testing.TB, nodes []*node, kinds ...Kind) {
	t.Helper()
	for i := 0; i+1 < len(nodes); i++ {
		connect(t, nodes[i], nodes[i+1])
	}
	for i, n := range nodes {
		for _, k := range kinds {
			if i > 0 {
				waitMesh(t, n, nodes[i-1], k)
			}
			if i+1 < len(nodes) {
				waitMesh(t, n, nodes[i+1], k)
			}
		}
	}
}

// waitMesh waits until n has grafted p into its mesh of kind k's topic.
func waitMesh(t testing.TB, n, p *node, k Kind) {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	topic := Topic("acme", k)
	for !n.mesh.has(p.h.ID(), topic) {
		select {
		case <-n.mesh.changed:
		case <-timer.C:
			t.Fatalf("%s did not graft %s on %s within %v", n.h.ID(), p.h.ID(), topic, wait)
		}
	}
}

func waitPeers(t testing.TB, n *node, k Kind, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.g.WaitPeers(ctx, k, want); err != nil {
		t.Fatal(err)
	}
}

// next waits for n's next handler call that match accepts, failing on a call
// that reject accepts (nil: none).
func (n *node) next(t testing.TB, match, reject func(hevent) bool) hevent {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case e := <-n.events:
			if reject != nil && reject(e) {
				t.Fatalf("%s got %s from %s: %v", n.h.ID(), e.kind, e.author, e.value)
			}
			if match(e) {
				return e
			}
		case <-timer.C:
			t.Fatalf("%s: no matching hevent within %v", n.h.ID(), wait)
		}
	}
}

func from(k Kind, p peer.ID) func(hevent) bool {
	return func(e hevent) bool { return e.kind == k && e.author == p }
}

func policyVersion(e hevent) uint64 {
	b, ok := e.value.([]byte)
	if !ok {
		return 0
	}
	p, err := sovereignty.ParseSignedPolicy(b)
	if err != nil {
		return 0
	}
	return p.Version
}

// eventually polls cond until it holds or wait passes: for states only
// visible by asking (peer scores refresh every ScoreInspect).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, what)
		}
		<-tick.C
	}
}

func publish(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("publish: %w", err))
	}
}

var logOut io.Writer = io.Discard

// meshTracer records which peers a node grafted into its mesh, per topic:
// a message relayed before the mesh forms is only gossiped, and may be
// late, so chain waits for the mesh.
type meshTracer struct {
	noTrace
	mu      sync.Mutex
	mesh    map[string]map[peer.ID]bool
	changed chan struct{}
}

func newMeshTracer() *meshTracer {
	return &meshTracer{mesh: map[string]map[peer.ID]bool{}, changed: make(chan struct{}, 1)}
}

func (m *meshTracer) Graft(p peer.ID, topic string) {
	m.mu.Lock()
	if m.mesh[topic] == nil {
		m.mesh[topic] = map[peer.ID]bool{}
	}
	m.mesh[topic][p] = true
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

func (m *meshTracer) Prune(p peer.ID, topic string) {
	m.mu.Lock()
	delete(m.mesh[topic], p)
	m.mu.Unlock()
}

func (m *meshTracer) has(p peer.ID, topic string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mesh[topic][p]
}

// noTrace is a pubsub.RawTracer that does nothing.
type noTrace struct{}

func (noTrace) AddPeer(peer.ID, protocol.ID)                         {}
func (noTrace) RemovePeer(peer.ID)                                   {}
func (noTrace) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (noTrace) OnClosedOutboundStream(peer.ID)                       {}
func (noTrace) Join(string)                                          {}
func (noTrace) Leave(string)                                         {}
func (noTrace) Graft(peer.ID, string)                                {}
func (noTrace) Prune(peer.ID, string)                                {}
func (noTrace) ValidateMessage(*pubsub.Message)                      {}
func (noTrace) DeliverMessage(*pubsub.Message)                       {}
func (noTrace) RejectMessage(*pubsub.Message, string)                {}
func (noTrace) DuplicateMessage(*pubsub.Message)                     {}
func (noTrace) ThrottlePeer(peer.ID)                                 {}
func (noTrace) RecvRPC(*pubsub.RPC)                                  {}
func (noTrace) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (noTrace) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (noTrace) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (noTrace) UndeliverableMessage(*pubsub.Message)                 {}
