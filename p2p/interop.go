package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cairnhub/cairn/sovereignty"
	"github.com/ipfs/boxo/bitswap"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// InteropOrg is the organisation name of the Member an interop peer is treated as,
// as audit entries and the BlockFilter see it.
const InteropOrg = "interop"

// ErrNotInterop: the peer is not in Config.InteropPeers.
var ErrNotInterop = errors.New("not an interop peer")

// interopMember returns the Member an allow-listed interop peer is treated as.
func (h *Host) interopMember(p peer.ID) (*sovereignty.Member, bool) {
	m, ok := h.interop[p]
	return m, ok
}

// isInterop reports whether p is in Config.InteropPeers.
func (h *Host) isInterop(p peer.ID) bool {
	_, ok := h.interop[p]
	return ok
}

// InteropExchange returns the bitswap instance on the standard /ipfs/bitswap
// protocols, which talks to interop peers only; nil when Config.InteropPeers is empty
// or Deps.Blockstore is nil. Wrap it in a blockservice to read whole DAGs from Kubo.
func (h *Host) InteropExchange() *bitswap.Bitswap { return h.ibs }

// ConnectInterop dials an interop peer (a Kubo node, say). No hello runs: such a peer
// has no certificate.
func (h *Host) ConnectInterop(ctx context.Context, ai peer.AddrInfo) error {
	if !h.isInterop(ai.ID) {
		return fmt.Errorf("p2p: connect %s: %w (add it to the interop peers)", ai.ID, ErrNotInterop)
	}
	if err := h.raw.Connect(ctx, ai); err != nil {
		return fmt.Errorf("p2p: connect %s: %w", ai.ID, err)
	}
	return nil
}

// InteropGetBlock fetches one block from connected interop peers over standard
// bitswap (from the store when present). The block is kept in the store.
func (h *Host) InteropGetBlock(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if h.ibs == nil {
		return nil, errors.New("p2p: InteropGetBlock: interop bitswap is off (no interop peers or no blockstore)")
	}
	b, err := h.ibs.GetBlock(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("p2p: interop bitswap get %s: %w", c, err)
	}
	return b, nil
}

// InteropPeers returns the interop peers connected now.
func (h *Host) InteropPeers() []peer.ID {
	var out []peer.ID
	for p := range h.interop {
		if h.raw.Network().Connectedness(p) == network.Connected {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// allowInteropBlock is the interop bitswap's request filter: allow-listed peers only,
// then the same BlockFilter as members, with the peer's configured jurisdiction.
func (h *Host) allowInteropBlock(p peer.ID, c cid.Cid) bool {
	m, ok := h.interopMember(p)
	if !ok {
		return false
	}
	if h.deps.BlockFilter == nil {
		return true
	}
	return h.deps.BlockFilter(m, c)
}

// interopHost is the libp2p host as the interop bitswap sees it: streams, handlers,
// connections and connection events of allow-listed peers only. Any other peer,
// member or stranger, is invisible to it, and its streams on the standard protocols
// are reset unread.
type interopHost struct {
	host.Host
	h   *Host
	net *interopNet
}

func newInteropHost(h *Host) *interopHost {
	return &interopHost{Host: h.raw, h: h, net: &interopNet{
		Network: h.raw.Network(), allowed: h.isInterop, wrapped: map[network.Notifiee]network.Notifiee{},
	}}
}

func (i *interopHost) Network() network.Network { return i.net }

func (i *interopHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	i.Host.SetStreamHandler(pid, i.gate(handler))
}

func (i *interopHost) SetStreamHandlerMatch(pid protocol.ID, m func(protocol.ID) bool, handler network.StreamHandler) {
	i.Host.SetStreamHandlerMatch(pid, m, i.gate(handler))
}

func (i *interopHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	if !i.h.isInterop(p) {
		return nil, fmt.Errorf("p2p: interop stream to %s: %w", p, ErrNotInterop)
	}
	return i.Host.NewStream(ctx, p, pids...)
}

func (i *interopHost) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if !i.h.isInterop(ai.ID) {
		return fmt.Errorf("p2p: interop connect %s: %w", ai.ID, ErrNotInterop)
	}
	return i.Host.Connect(ctx, ai)
}

func (i *interopHost) gate(next network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		if p := s.Conn().RemotePeer(); !i.h.isInterop(p) {
			i.h.log.Debug("standard-protocol stream from a peer not in the interop list reset", "peer", p, "protocol", s.Protocol())
			_ = s.Reset()
			return
		}
		next(s)
	}
}

// interopNet filters the swarm's view down to allow-listed peers.
type interopNet struct {
	network.Network
	allowed func(peer.ID) bool

	mu      sync.Mutex
	wrapped map[network.Notifiee]network.Notifiee
}

func (n *interopNet) Notify(f network.Notifiee) {
	w := &interopNotifiee{next: f, allowed: n.allowed}
	n.mu.Lock()
	n.wrapped[f] = w
	n.mu.Unlock()
	n.Network.Notify(w)
}

func (n *interopNet) StopNotify(f network.Notifiee) {
	n.mu.Lock()
	w, ok := n.wrapped[f]
	delete(n.wrapped, f)
	n.mu.Unlock()
	if ok {
		n.Network.StopNotify(w)
	}
}

func (n *interopNet) Conns() []network.Conn {
	var out []network.Conn
	for _, c := range n.Network.Conns() {
		if n.allowed(c.RemotePeer()) {
			out = append(out, c)
		}
	}
	return out
}

func (n *interopNet) ConnsToPeer(p peer.ID) []network.Conn {
	if !n.allowed(p) {
		return nil
	}
	return n.Network.ConnsToPeer(p)
}

func (n *interopNet) Peers() []peer.ID {
	var out []peer.ID
	for _, p := range n.Network.Peers() {
		if n.allowed(p) {
			out = append(out, p)
		}
	}
	return out
}

func (n *interopNet) Connectedness(p peer.ID) network.Connectedness {
	if !n.allowed(p) {
		return network.NotConnected
	}
	return n.Network.Connectedness(p)
}

func (n *interopNet) DialPeer(ctx context.Context, p peer.ID) (network.Conn, error) {
	if !n.allowed(p) {
		return nil, fmt.Errorf("p2p: interop dial %s: %w", p, ErrNotInterop)
	}
	return n.Network.DialPeer(ctx, p)
}

func (n *interopNet) NewStream(ctx context.Context, p peer.ID) (network.Stream, error) {
	if !n.allowed(p) {
		return nil, fmt.Errorf("p2p: interop stream to %s: %w", p, ErrNotInterop)
	}
	return n.Network.NewStream(ctx, p)
}

type interopNotifiee struct {
	next    network.Notifiee
	allowed func(peer.ID) bool
}

func (w *interopNotifiee) Listen(nw network.Network, a ma.Multiaddr) { w.next.Listen(nw, a) }
func (w *interopNotifiee) ListenClose(nw network.Network, a ma.Multiaddr) {
	w.next.ListenClose(nw, a)
}

func (w *interopNotifiee) Connected(nw network.Network, c network.Conn) {
	if w.allowed(c.RemotePeer()) {
		w.next.Connected(nw, c)
	}
}

func (w *interopNotifiee) Disconnected(nw network.Network, c network.Conn) {
	if w.allowed(c.RemotePeer()) {
		w.next.Disconnected(nw, c)
	}
}
