package gossip

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"
)

// SimConfig sets up a simulated network: in-process hosts on go-libp2p's
// mock network, each running this package's control plane unchanged.
type SimConfig struct {
	// Nodes in the network. Default 100.
	Nodes int
	// Degree is the average number of connections per node: a ring (so the
	// graph is connected) plus random chords. Default 8.
	Degree int
	// Latency of every link, one way. Default 50 ms.
	Latency time.Duration
	// Holdings also runs a holdings round: every node publishes its summary
	// once, the publications spread evenly over Spread. It costs Nodes²
	// validations: wall time, not simulated time.
	Holdings bool
	// Spread of the holdings round, simulated. Default Nodes × 100 ms (10
	// publications a second, the rate of a 3,000-node network whose nodes
	// publish every 5 minutes).
	Spread time.Duration
	// Timeout bounds each phase (mesh forming, one round past its spread).
	// Default 2 min.
	Timeout time.Duration
	// Seed makes the topology reproducible.
	Seed uint64
	// Inspect, when set, is called after the holdings round with each
	// node's view of the holdings (one node at a time), so a caller can
	// check what every node computes from it (placement).
	Inspect func(node int, view map[peer.ID]Holdings)
}

// SimResult is what a simulation measured. Durations are simulated time
// (the synctest bubble's clock: link latency and timers, not this
// machine's CPU), but Wall.
type SimResult struct {
	Nodes, Edges int
	Setup        time.Duration // hosts, connections, mesh forming
	Wall         time.Duration // real time the whole simulation took
	Policy       Round         // one policy change published by one node
	Holdings     *Round        // every node's holdings summary, times from each publication (nil: not run)
	SameView     bool          // every node ended with the same holdings of every node
	// MinScore is the lowest score any node gave a neighbour at the end
	// (below GossipThreshold, congestion was mistaken for misbehaviour).
	MinScore float64
	// Rejected counts the messages nodes rejected (none in an honest network).
	Rejected uint64
}

// Round is the figures of one dissemination round. With one message the
// times are for a node to have it; with many, from each publication to
// each receipt.
type Round struct {
	Messages   int           // distinct messages published in the round
	Reached    int           // nodes that had every message at the end
	P50, P99   time.Duration // time for a node to have every message
	Max        time.Duration //
	RPCs       float64       // RPCs sent per node (messages, gossip and mesh control)
	Copies     float64       // message copies sent per node
	Bytes      float64       // bytes sent per node
	PerMessage float64       // RPCs sent per node per published message
}

func (r Round) String() string {
	return fmt.Sprintf("%d msgs, reached %d: p50 %v p99 %v max %v; per node: %.1f RPCs (%.2f per message), %.1f copies, %.0f bytes",
		r.Messages, r.Reached, r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.Max.Round(time.Millisecond),
		r.RPCs, r.PerMessage, r.Copies, r.Bytes)
}

func (c SimConfig) withDefaults() SimConfig {
	if c.Nodes == 0 {
		c.Nodes = 100
	}
	if c.Degree == 0 {
		c.Degree = 8
	}
	if c.Latency == 0 {
		c.Latency = 50 * time.Millisecond
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.Spread == 0 {
		c.Spread = time.Duration(c.Nodes) * 100 * time.Millisecond
	}
	return c
}

// Validate checks c after defaults are applied.
func (c SimConfig) Validate() error {
	c = c.withDefaults()
	if c.Nodes < 2 || c.Degree < 2 || c.Degree >= c.Nodes || c.Latency < 0 || c.Timeout <= 0 {
		return fmt.Errorf("simulation: %d nodes, degree %d: want at least 2 nodes and 2 <= degree < nodes", c.Nodes, c.Degree)
	}
	return nil
}

// simNode is one simulated node.
type simNode struct {
	h     host.Host
	g     *Gossip
	count *simCounter
	got   atomic.Int64 // messages of the round received
	done  atomic.Int64 // when it had them all, ns after the round's start
	had   atomic.Bool  // it had them all (at 0 ns for the publisher, on a simulated clock)
}

type simNet struct {
	cfg       SimConfig
	trust     *sovereignty.Trust
	members   map[peer.ID]bool // written before any connection, read only after
	nodes     []*simNode
	start     atomic.Int64 // round start, unix ns
	want      atomic.Int64 // messages a node must have to be done
	remaining atomic.Int64 // nodes not done yet
	all       atomic.Pointer[chan struct{}]

	index   map[peer.ID]int // node index of a peer
	pubAt   []atomic.Int64  // when each node published its holdings, unix ns
	delayMu sync.Mutex
	delays  []time.Duration // holdings: publication to receipt, every pair

	rejected uint64
	stop     chan struct{} // closed when the simulation ends: ends the links' delivery
}

func (s *simNet) Member(p peer.ID) (*sovereignty.Member, bool) {
	if !s.members[p] {
		return nil, false
	}
	return &sovereignty.Member{PeerID: p.String()}, true
}

// Simulate builds the network, forms the meshes and measures a policy change
// (and a holdings round when asked), inside a testing/synctest bubble of t:
// the network, its timers and its link latency run on the bubble's clock,
// which moves only when every goroutine of the simulation waits, so the
// figures do not depend on this machine's speed or load. Everything the
// simulation starts has stopped when it returns.
func Simulate(t *testing.T, cfg SimConfig) (SimResult, error) {
	if err := cfg.Validate(); err != nil {
		return SimResult{}, err
	}
	var res SimResult
	var err error
	start := time.Now()
	synctest.Test(t, func(t *testing.T) {
		res, err = simulate(t.Context(), cfg.withDefaults())
	})
	res.Wall = time.Since(start)
	return res, err
}

// simulate runs the simulation on the clock it is given (a bubble's).
func simulate(ctx context.Context, cfg SimConfig) (SimResult, error) {
	t0 := time.Now()
	mn := mocknet.New()
	defer mn.Close()
	// Latency is added per write by latencyHost (simlink.go).
	mn.SetLinkDefaults(mocknet.LinkOptions{})
	orgKey, err := sovereignty.GenerateOrgKey()
	if err != nil {
		return SimResult{}, err
	}
	trust, err := sovereignty.NewTrust(sovereignty.OrgPublicKey(orgKey))
	if err != nil {
		return SimResult{}, err
	}
	s := &simNet{cfg: cfg, trust: trust, members: map[peer.ID]bool{}, index: map[peer.ID]int{},
		pubAt: make([]atomic.Int64, cfg.Nodes), stop: make(chan struct{})}
	defer s.close()
	if err := s.build(ctx, mn, orgKey); err != nil {
		return SimResult{}, err
	}
	edges, err := s.connect(mn)
	if err != nil {
		return SimResult{}, err
	}
	if err := s.settle(ctx, KindPolicy, KindHoldings); err != nil {
		return SimResult{}, err
	}
	res := SimResult{Nodes: cfg.Nodes, Edges: edges, Setup: time.Since(t0)}
	policy, err := sovereignty.SignPolicy(orgKey, []byte("repos:\n  - match: '*'\n    hold: [DE]\n    receive: [DE]\n"), 1)
	if err != nil {
		return SimResult{}, err
	}
	res.Policy, err = s.round(ctx, 1, func() error { return s.nodes[0].g.PublishPolicy(ctx, policy) })
	if err != nil {
		return res, err
	}
	if cfg.Holdings {
		r, err := s.round(ctx, cfg.Nodes, func() error { return s.publishHoldings(ctx) })
		res.Holdings = &r
		if err != nil {
			res.MinScore = s.minScore()
			res.Rejected = s.rejected
			return res, err
		}
		res.SameView = s.sameView()
		if cfg.Inspect != nil {
			for i, n := range s.nodes {
				cfg.Inspect(i, n.g.Holdings())
			}
		}
	}
	res.MinScore = s.minScore()
	res.Rejected = s.rejected
	return res, nil
}

func (s *simNet) minScore() float64 {
	low := 0.0
	for _, n := range s.nodes {
		for _, k := range Kinds() {
			_, _, rej := n.g.Verdicts(k)
			s.rejected += rej
		}
		for _, v := range n.g.Scores() {
			low = min(low, v)
		}
	}
	return low
}

func (s *simNet) build(ctx context.Context, mn mocknet.Mocknet, orgKey ed25519.PrivateKey) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range s.cfg.Nodes {
		sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return err
		}
		ip := net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))
		h, err := mn.AddPeer(sk, ma.StringCast(fmt.Sprintf("/ip4/%s/tcp/4001", ip)))
		if err != nil {
			return fmt.Errorf("simulation: host %d: %w", i, err)
		}
		s.members[h.ID()] = true
		s.index[h.ID()] = i
		cert, err := sovereignty.Issue(orgKey, sovereignty.Certificate{Org: "sim", PeerID: h.ID().String(), Region: "eu",
			Jurisdiction: "DE", Roles: []string{"mirror"}, Expires: time.Now().Add(24 * time.Hour),
			// Issue backdates by default, before the bubble's clock
			// (midnight, 1 January 2000) and out of the certificate's range.
			NotBefore: time.Now()})
		if err != nil {
			return err
		}
		n := &simNode{h: h, count: &simCounter{}}
		s.nodes = append(s.nodes, n)
		deps := Deps{Members: s, Verifier: s.trust, Documents: TrustDocuments{s.trust}, Certificate: cert,
			Tracer: n.count, Logger: quiet, Handlers: Handlers{
				Policy:   func(peer.ID, []byte) { s.received(n) },
				Holdings: func(a peer.ID, _ Holdings) { s.receivedHoldings(n, a) },
			}}
		if n.g, err = New(ctx, latencyHost{Host: h, latency: s.cfg.Latency, stop: s.stop}, Config{DisableCatchUp: true, ScoreInspect: time.Second}, deps); err != nil {
			return fmt.Errorf("simulation: node %d: %w", i, err)
		}
	}
	return nil
}

func (s *simNet) close() {
	for _, n := range s.nodes {
		if n.g != nil {
			_ = n.g.Close()
		}
	}
	close(s.stop)
}

// connect links and connects a ring plus random chords; it returns the
// number of connections.
func (s *simNet) connect(mn mocknet.Mocknet) (int, error) {
	rng := mrand.New(mrand.NewPCG(s.cfg.Seed, 1))
	n := len(s.nodes)
	seen := map[[2]int]bool{}
	link := func(a, b int) error {
		if a == b || seen[[2]int{min(a, b), max(a, b)}] {
			return nil
		}
		seen[[2]int{min(a, b), max(a, b)}] = true
		if _, err := mn.LinkPeers(s.nodes[a].h.ID(), s.nodes[b].h.ID()); err != nil {
			return err
		}
		_, err := mn.ConnectPeers(s.nodes[a].h.ID(), s.nodes[b].h.ID())
		return err
	}
	for i := range n {
		if err := link(i, (i+1)%n); err != nil {
			return 0, fmt.Errorf("simulation: connect: %w", err)
		}
		for range (s.cfg.Degree - 2) / 2 {
			if err := link(i, rng.IntN(n)); err != nil {
				return 0, fmt.Errorf("simulation: connect: %w", err)
			}
		}
	}
	return len(seen), nil
}

// settle waits until every node has a mesh on the kinds' topics: at least
// min(its connections, 4) peers (GossipSub's low mark is 5).
func (s *simNet) settle(ctx context.Context, kinds ...Kind) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := true
		for _, n := range s.nodes {
			want := min(len(n.h.Network().Peers()), 4)
			for _, k := range kinds {
				if n.count.meshSize(Topic("sim", k)) < want {
					ready = false
				}
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("simulation: meshes not formed: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func (s *simNet) receivedHoldings(n *simNode, author peer.ID) {
	d := time.Duration(time.Now().UnixNano() - s.pubAt[s.index[author]].Load())
	s.delayMu.Lock()
	s.delays = append(s.delays, d)
	s.delayMu.Unlock()
	s.received(n)
}

func (s *simNet) received(n *simNode) {
	if n.got.Add(1) == s.want.Load() {
		n.done.Store(time.Now().UnixNano() - s.start.Load())
		n.had.Store(true)
		if s.remaining.Add(-1) == 0 {
			close(*s.all.Load())
		}
	}
}

// round publishes msgs messages (publish does it), waits until every node has
// them all, then one heartbeat more so the gossip about them is counted too.
func (s *simNet) round(ctx context.Context, msgs int, publish func() error) (Round, error) {
	s.want.Store(int64(msgs))
	s.remaining.Store(int64(len(s.nodes)))
	all := make(chan struct{})
	s.all.Store(&all)
	for _, n := range s.nodes {
		n.got.Store(0)
		n.done.Store(0)
		n.had.Store(false)
		n.count.reset()
	}
	s.start.Store(time.Now().UnixNano())
	go func() {
		if err := publish(); err != nil {
			slog.Warn("simulation: publish", "err", err)
		}
	}()
	timeout := s.cfg.Timeout
	if msgs > 1 {
		timeout += s.cfg.Spread
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var err error
	select {
	case <-all:
	case <-timer.C:
		err = fmt.Errorf("simulation: round of %d messages not complete after %v", msgs, timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	time.Sleep(DefaultHeartbeat + s.cfg.Latency)
	r := Round{Messages: msgs}
	var times []time.Duration
	var rpcs, copies, bytes int64
	for _, n := range s.nodes {
		if n.had.Load() {
			r.Reached++
			times = append(times, time.Duration(n.done.Load()))
		}
		rpcs += n.count.rpcs.Load()
		copies += n.count.copies.Load()
		bytes += n.count.bytes.Load()
	}
	if msgs > 1 {
		// Many publications: time each from its own publication.
		s.delayMu.Lock()
		times, s.delays = s.delays, nil
		s.delayMu.Unlock()
	}
	slices.Sort(times)
	if len(times) > 0 {
		r.P50, r.P99, r.Max = times[len(times)/2], times[min(len(times)-1, len(times)*99/100)], times[len(times)-1]
	}
	nn := float64(len(s.nodes))
	r.RPCs, r.Copies, r.Bytes = float64(rpcs)/nn, float64(copies)/nn, float64(bytes)/nn
	r.PerMessage = r.RPCs / float64(msgs)
	return r, err
}

func (s *simNet) publishHoldings(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.nodes))
	step := s.cfg.Spread / time.Duration(len(s.nodes))
	for i, n := range s.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * step)
			h := Holdings{Mirror: true, Capacity: 1 << 40}
			for j := range 10 {
				h.Held = append(h.Held, Held{Key: fmt.Sprintf("model/sim/m%d@main", (i+j)%100)})
			}
			s.pubAt[i].Store(time.Now().UnixNano())
			errs[i] = n.g.PublishHoldings(ctx, h)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sameView: every node holds the same latest summary of every node.
func (s *simNet) sameView() bool {
	ref := s.nodes[0].g.Holdings()
	if len(ref) != len(s.nodes) {
		return false
	}
	for _, n := range s.nodes[1:] {
		v := n.g.Holdings()
		if len(v) != len(ref) {
			return false
		}
		for p, h := range ref {
			if v[p].Seq != h.Seq || len(v[p].Held) != len(h.Held) {
				return false
			}
		}
	}
	return true
}

// simCounter counts what a node sends and tracks its meshes.
type simCounter struct {
	rpcs, copies, bytes atomic.Int64
	mu                  sync.Mutex
	mesh                map[string]int
}

func (c *simCounter) reset() {
	c.rpcs.Store(0)
	c.copies.Store(0)
	c.bytes.Store(0)
}

func (c *simCounter) meshSize(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mesh[topic]
}

func (c *simCounter) Graft(_ peer.ID, topic string) {
	c.mu.Lock()
	if c.mesh == nil {
		c.mesh = map[string]int{}
	}
	c.mesh[topic]++
	c.mu.Unlock()
}

func (c *simCounter) Prune(_ peer.ID, topic string) {
	c.mu.Lock()
	c.mesh[topic]--
	c.mu.Unlock()
}

func (c *simCounter) SendRPC(rpc *pubsub.RPC, _ peer.ID) {
	c.rpcs.Add(1)
	c.copies.Add(int64(len(rpc.Publish)))
	c.bytes.Add(int64(proto.Size(&rpc.RPC)))
}

func (*simCounter) AddPeer(peer.ID, protocol.ID)                         {}
func (*simCounter) RemovePeer(peer.ID)                                   {}
func (*simCounter) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (*simCounter) OnClosedOutboundStream(peer.ID)                       {}
func (*simCounter) Join(string)                                          {}
func (*simCounter) Leave(string)                                         {}
func (*simCounter) ValidateMessage(*pubsub.Message)                      {}
func (*simCounter) DeliverMessage(*pubsub.Message)                       {}
func (*simCounter) RejectMessage(*pubsub.Message, string)                {}
func (*simCounter) DuplicateMessage(*pubsub.Message)                     {}
func (*simCounter) ThrottlePeer(peer.ID)                                 {}
func (*simCounter) RecvRPC(*pubsub.RPC)                                  {}
func (*simCounter) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*simCounter) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*simCounter) UndeliverableMessage(*pubsub.Message)                 {}
