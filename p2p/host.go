package p2p

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	"github.com/ipfs/boxo/bitswap"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// Protocol IDs and prefixes. Every Cairn protocol lives under /cairn, so a Cairn node
// and a public IPFS node never mix DHTs or bitswap sessions by accident.
const (
	ProtocolPrefix      protocol.ID = "/cairn"
	ProtocolMember      protocol.ID = "/cairn/member/1.0.0"
	ProtocolRevocations protocol.ID = "/cairn/revocations/1.0.0"
)

// Verifier checks the certificate a peer presents for the peer ID of its connection.
// *sovereignty.Trust satisfies it.
type Verifier interface {
	VerifyBytes(cert []byte, peerID string, now time.Time) (*sovereignty.Member, error)
}

// RevocationSet holds organisations' signed revocation lists. *sovereignty.Trust
// satisfies it.
type RevocationSet interface {
	// AddRevocations installs a newer signed list; sovereignty.ErrStale when not newer.
	AddRevocations(signed []byte) error
	// RevocationList returns the signed list held for an organisation and its version.
	RevocationList(orgKey ed25519.PublicKey) ([]byte, uint64)
	// Orgs returns the trusted organisation keys.
	Orgs() []ed25519.PublicKey
}

// Trust is what the host needs from the trust set: *sovereignty.Trust.
type Trust interface {
	Verifier
	RevocationSet
}

// BlockFilter decides whether a member may receive a block over bitswap. The policy
// engine plugs in here (residency, roles).
type BlockFilter func(m *sovereignty.Member, c cid.Cid) bool

// Deps are the host's collaborators.
type Deps struct {
	// Trust verifies certificates and holds revocation lists. Required.
	Trust Trust
	// Certificate is this node's encoded certificate. Nil: the node runs but every
	// Cairn peer refuses it (useful for `cairn id` before `cairn org join`).
	Certificate []byte
	// Blockstore serves and stores bitswap blocks. Nil: no bitswap.
	Blockstore blockstore.Blockstore
	// BlockFilter is asked for every block a member wants. Nil: members get any block
	// the store holds. Non-members never get one, whatever the filter says.
	BlockFilter BlockFilter
	// Roots lists the CIDs to announce to the DHT periodically (repo revision roots,
	// file roots). Nil: nothing is announced but what Provide is called with.
	Roots func(ctx context.Context) ([]cid.Cid, error)
	// Logger receives the host's logs. Nil: slog.Default().
	Logger *slog.Logger
	// OnRevocations is called with each newer signed revocation list installed (from
	// gossip, a hello, or AddRevocations), so the node can persist it. It must not
	// block for long. Nil: not called.
	OnRevocations func(signed []byte)
	// OnRefused is called with each peer this host refuses and why (a certificate
	// that does not verify, a hello timeout), for the audit log. It must not block
	// for long. Nil: not called.
	OnRefused func(p peer.ID, reason error)
	// Options are extra libp2p options appended to the host's own, such as
	// fetch.HostOptions() (a larger yamux window for bulk streams). Nil: none.
	Options []libp2p.Option
}

// Host is a running Cairn libp2p node.
type Host struct {
	cfg       Config
	deps      Deps
	log       *slog.Logger
	raw       host.Host
	gated     *gatedHost
	dht       *dht.IpfsDHT
	bs        *bitswap.Bitswap
	ibs       *bitswap.Bitswap                // standard-protocol bitswap for interop peers
	interop   map[peer.ID]*sovereignty.Member // Config.InteropPeers; read-only after New
	bootstrap []peer.AddrInfo
	stop      context.CancelFunc // ends the goroutines New started
	ready     chan struct{}      // closed once raw is set (the stream gate reads it)
	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	members  map[peer.ID]*memberEntry
	refused  map[peer.ID]refusal
	helloing map[peer.ID]bool
	changed  chan struct{} // closed and replaced whenever members or refused change
	subs     map[chan MemberEvent]struct{}
	rtt      map[peer.ID]time.Duration
	// relayAddrs are this host's relayed addresses, by relay (relay.go).
	relayAddrs map[peer.ID][]ma.Multiaddr
}

// New starts a host: it listens, answers the member protocol, and runs the DHT and
// bitswap. Discovery, bootstrap, RTT and re-verification loops run in Run.
func New(ctx context.Context, cfg Config, deps Deps) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Trust == nil {
		return nil, errors.New("p2p: Deps.Trust: required")
	}
	cfg = cfg.withDefaults()
	bootstrap, _ := parseBootstrap(cfg.Bootstrap) // validated above
	h := &Host{
		cfg: cfg, deps: deps, log: deps.Logger, bootstrap: bootstrap,
		members: map[peer.ID]*memberEntry{}, refused: map[peer.ID]refusal{},
		helloing: map[peer.ID]bool{}, changed: make(chan struct{}),
		subs: map[chan MemberEvent]struct{}{}, rtt: map[peer.ID]time.Duration{},
		interop: map[peer.ID]*sovereignty.Member{}, relayAddrs: map[peer.ID][]ma.Multiaddr{},
		ready: make(chan struct{}),
	}
	for _, p := range cfg.InteropPeers {
		h.interop[p] = &sovereignty.Member{PeerID: p.String(), Org: InteropOrg, Jurisdiction: cfg.InteropJurisdiction}
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("component", "p2p")
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Key),
		libp2p.ListenAddrStrings(cfg.Listen...),
		libp2p.ConnectionGater((*gater)(h)),
		libp2p.UserAgent("cairn"),
		// Several hosts share a process in tests and in `cairn get`; libp2p's
		// Prometheus collectors would collide.
		libp2p.DisableMetrics(),
		// Ping is served to members only (registered on the gated host
		// below); every other protocol go-libp2p serves waits for
		// membership in the stream gate (gate.go).
		libp2p.Ping(false),
	}
	if len(cfg.PSK) > 0 {
		psk, _ := cfg.psk() // validated above
		opts = append(opts, libp2p.PrivateNetwork(psk),
			libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport))
	}
	opts = append(opts, h.relayOptions()...)
	opts = append(opts, deps.Options...)
	// Last: it wraps whatever resource manager the options above chose.
	opts = append(opts, h.gateStreams)
	raw, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: libp2p host on %v: %w", cfg.Listen, err)
	}
	h.raw = raw
	close(h.ready)
	h.gated = &gatedHost{Host: raw, h: h}
	ping.NewPingService(h.gated)
	if len(deps.Certificate) == 0 {
		h.log.Warn("no node certificate: every Cairn peer will refuse this node", "peer", raw.ID())
	} else if _, err := deps.Trust.VerifyBytes(deps.Certificate, raw.ID().String(), time.Now()); err != nil {
		// Peers trusting other organisations may still accept it, so only warn.
		h.log.Warn("own certificate does not verify against this node's trust set", "peer", raw.ID(), "err", err)
	}

	// The DHT and bitswap outlive New's ctx: Close ends them.
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	h.stop = stop
	mode := map[DHTMode]dht.ModeOpt{DHTAutoServer: dht.ModeAutoServer, DHTAuto: dht.ModeAuto,
		DHTServer: dht.ModeServer, DHTClient: dht.ModeClient}[cfg.DHTMode]
	h.dht, err = dht.New(h.gated,
		dht.ProtocolPrefix(ProtocolPrefix),
		dht.Mode(mode),
		dht.RoutingTableFilter(func(_ any, p peer.ID) bool { _, ok := h.Member(p); return ok }),
	)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("p2p: dht: %w", err)
	}
	if deps.Blockstore != nil {
		net := bsnet.NewFromIpfsHost(h.gated, bsnet.Prefix(ProtocolPrefix))
		h.bs = bitswap.New(life, net, h.dht, deps.Blockstore,
			bitswap.WithPeerBlockRequestFilter(h.allowBlock))
		if len(h.interop) > 0 {
			// No content routing: it asks the connected interop peers only.
			inet := bsnet.NewFromIpfsHost(newInteropHost(h))
			h.ibs = bitswap.New(life, inet, nil, deps.Blockstore,
				bitswap.WithPeerBlockRequestFilter(h.allowInteropBlock))
		}
	}
	// Membership starts last, so that its goroutines see the DHT and bitswap; a
	// dialler that came too early retries after a short refusal.
	raw.SetStreamHandler(ProtocolMember, h.handleHello)
	raw.Network().Notify((*notifiee)(h))
	h.Handle(ProtocolRevocations, h.handleRevocations)
	// Connections may have arrived before the notifiee was registered.
	for _, c := range raw.Network().Conns() {
		(*notifiee)(h).Connected(raw.Network(), c)
	}
	return h, nil
}

// Close stops the host and closes every connection.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		if h.stop != nil {
			h.stop()
		}
		var errs []error
		if h.bs != nil {
			errs = append(errs, h.bs.Close())
		}
		if h.ibs != nil {
			errs = append(errs, h.ibs.Close())
		}
		if h.dht != nil {
			errs = append(errs, h.dht.Close())
		}
		errs = append(errs, h.raw.Close())
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

// ID returns the node's peer ID.
func (h *Host) ID() peer.ID { return h.raw.ID() }

// Addrs returns the listen addresses, each with the /p2p/<ID> suffix, so they can be
// given as bootstrap addresses as they are.
func (h *Host) Addrs() []ma.Multiaddr {
	ai := peer.AddrInfo{ID: h.raw.ID(), Addrs: h.raw.Addrs()}
	out, _ := peer.AddrInfoToP2pAddrs(&ai)
	return out
}

// AddrInfo returns the node's peer ID and listen addresses.
func (h *Host) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: h.raw.ID(), Addrs: h.raw.Addrs()}
}

// Libp2p returns the libp2p host with membership gating: stream handlers set on it
// serve members only, and NewStream opens streams to members only (it waits for the
// hello of a new connection). Protocols of other packages (fetch, inference
// forwarding) register here or through Handle.
func (h *Host) Libp2p() host.Host { return h.gated }

// Handle registers a Cairn protocol served to members only: a stream from a peer that
// has not proved membership within Config.HelloTimeout is reset unread.
func (h *Host) Handle(proto protocol.ID, handler network.StreamHandler) {
	h.gated.SetStreamHandler(proto, handler)
}

// Bitswap returns the bitswap exchange, nil when Deps.Blockstore is nil.
func (h *Host) Bitswap() *bitswap.Bitswap { return h.bs }

// GetBlock fetches one block over bitswap (from the store when present).
func (h *Host) GetBlock(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if h.bs == nil {
		return nil, errors.New("p2p: GetBlock: no blockstore, bitswap is off")
	}
	b, err := h.bs.GetBlock(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("p2p: bitswap get %s: %w", c, err)
	}
	return b, nil
}

// Connect dials a peer and waits for the hello: it returns nil once the peer is a
// member, and the refusal reason otherwise.
func (h *Host) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if ai.ID == h.raw.ID() {
		return nil
	}
	if err := h.raw.Connect(ctx, ai); err != nil {
		return fmt.Errorf("p2p: connect %s: %w", ai.ID, err)
	}
	if _, err := h.waitMember(ctx, ai.ID); err != nil {
		return fmt.Errorf("p2p: connect %s: %w", ai.ID, err)
	}
	return nil
}

// Provide announces a root (repo revision or file) to the DHT. Announce roots only:
// a peer that has a root holds its DAG, and per-leaf records would not scale.
func (h *Host) Provide(ctx context.Context, c cid.Cid) error {
	if err := h.dht.Provide(ctx, c, true); err != nil {
		return fmt.Errorf("p2p: provide %s: %w", c, err)
	}
	return nil
}

// FindProviders returns up to n members (or not yet connected peers) that announced c,
// never this node nor refused peers.
func (h *Host) FindProviders(ctx context.Context, c cid.Cid, n int) ([]peer.AddrInfo, error) {
	if n <= 0 {
		n = 20
	}
	ctx, cancel := context.WithCancel(ctx) // ends the DHT query when we stop early
	defer cancel()
	var out []peer.AddrInfo
	for ai := range h.dht.FindProvidersAsync(ctx, c, n+1) {
		if ai.ID == h.raw.ID() || h.isRefused(ai.ID) {
			continue
		}
		out = append(out, ai)
		if len(out) == n {
			break
		}
	}
	if len(out) == 0 && ctx.Err() != nil {
		return nil, fmt.Errorf("p2p: find providers of %s: %w", c, ctx.Err())
	}
	return out, nil
}

// PeerInfo describes a connected member. Member is shared: read it, do not modify it.
type PeerInfo struct {
	ID     peer.ID
	Member *sovereignty.Member // attributes from its verified certificate
	RTT    time.Duration       // 0 while unmeasured
	Addrs  []ma.Multiaddr      // remote addresses of its open connections
}

// Peers returns the connected members, nearest (lowest RTT) first; members whose RTT
// is not yet measured come last.
func (h *Host) Peers() []PeerInfo {
	h.mu.Lock()
	out := make([]PeerInfo, 0, len(h.members))
	for p, e := range h.members {
		out = append(out, PeerInfo{ID: p, Member: e.member, RTT: h.rtt[p]})
	}
	h.mu.Unlock()
	for i := range out {
		if out[i].RTT == 0 {
			out[i].RTT = h.raw.Peerstore().LatencyEWMA(out[i].ID)
		}
		for _, c := range h.raw.Network().ConnsToPeer(out[i].ID) {
			out[i].Addrs = append(out[i].Addrs, c.RemoteMultiaddr())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].RTT, out[j].RTT
		if (a == 0) != (b == 0) {
			return b == 0
		}
		if a != b {
			return a < b
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// RTT returns the measured round-trip time to p, 0 when unknown.
func (h *Host) RTT(p peer.ID) time.Duration {
	h.mu.Lock()
	d := h.rtt[p]
	h.mu.Unlock()
	if d == 0 {
		d = h.raw.Peerstore().LatencyEWMA(p)
	}
	return d
}

func (h *Host) allowBlock(p peer.ID, c cid.Cid) bool {
	m, ok := h.Member(p)
	if !ok {
		return false
	}
	if h.deps.BlockFilter == nil {
		return true
	}
	return h.deps.BlockFilter(m, c)
}

// gatedHost is the libp2p host as other protocols see it: handlers and outgoing
// streams are for members only.
type gatedHost struct {
	host.Host
	h *Host
}

func (g *gatedHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	g.Host.SetStreamHandler(pid, g.h.gate(handler))
}

func (g *gatedHost) SetStreamHandlerMatch(pid protocol.ID, m func(protocol.ID) bool, handler network.StreamHandler) {
	g.Host.SetStreamHandlerMatch(pid, m, g.h.gate(handler))
}

func (g *gatedHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	if _, ok := g.h.Member(p); !ok {
		if g.h.isRefused(p) {
			return nil, fmt.Errorf("p2p: stream to %s: %w", p, ErrRefused)
		}
		// A peer learnt from the DHT may not be connected yet: connect, then wait for
		// the hello.
		if err := g.Host.Connect(ctx, peer.AddrInfo{ID: p}); err != nil {
			return nil, err
		}
		if _, err := g.h.waitMember(ctx, p); err != nil {
			return nil, fmt.Errorf("p2p: stream to %s: %w", p, err)
		}
	}
	return g.Host.NewStream(ctx, p, pids...)
}

func (h *Host) gate(next network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.HelloTimeout)
		defer cancel()
		if _, err := h.waitMember(ctx, s.Conn().RemotePeer()); err != nil {
			h.log.Debug("stream from non-member reset", "peer", s.Conn().RemotePeer(), "protocol", s.Protocol(), "err", err)
			_ = s.Reset()
			return
		}
		next(s)
	}
}
