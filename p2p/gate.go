package p2p

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	msmux "github.com/multiformats/go-multistream"
)

// Before membership a peer gets the hello and nothing else: no identify
// answer (agent, protocol list, listen and observed addresses), no identify
// push, no ping, no relay, AutoNAT or hole punching. go-libp2p registers some
// of those handlers on the raw host and some later (the relay hop when the
// relay service starts, DCUtR once the host has a public address), so the
// gate is not a handler wrapper but the resource manager. Every stream,
// inbound or outbound, is given its protocol through
// StreamManagementScope.SetProtocol before its handler runs or its opener
// sends a byte of the protocol itself; multistream has agreed on the protocol
// name by then at most, so a stranger can still probe which protocol IDs are
// served. The gate waits there, up to Config.HelloTimeout, for the peer to
// prove membership (the peer's identify request races with the hello), then
// lets go-libp2p's own handler run; refused, the stream is reset. Only the
// hello passes at once. This host's own identify request waits too, so
// nothing a stranger claims (addresses, protocols, this host's observed
// address) gets in.

// gateStreams is the last libp2p option of the host: it wraps the configured
// resource manager (go-libp2p's default when no option set one) in the
// membership gate.
func (h *Host) gateStreams(cfg *libp2p.Config) error {
	if cfg.ResourceManager == nil {
		if err := libp2p.DefaultResourceManager(cfg); err != nil {
			return err
		}
	}
	g := memberScopes{ResourceManager: cfg.ResourceManager, h: h}
	if l, ok := cfg.ResourceManager.(connmgr.GetConnLimiter); ok {
		// Keeps go-libp2p's check of the connection manager against this limit.
		cfg.ResourceManager = struct {
			memberScopes
			connmgr.GetConnLimiter
		}{g, l}
		return nil
	}
	cfg.ResourceManager = g
	return nil
}

// memberScopes is a resource manager whose stream scopes take a protocol only
// for members (and interop peers), the hello excepted.
type memberScopes struct {
	network.ResourceManager
	h *Host
}

func (r memberScopes) OpenStream(p peer.ID, dir network.Direction) (network.StreamManagementScope, error) {
	s, err := r.ResourceManager.OpenStream(p, dir)
	if err != nil {
		return nil, err
	}
	return &memberStream{StreamManagementScope: s, h: r.h, peer: p, dir: dir}, nil
}

type memberStream struct {
	network.StreamManagementScope
	h    *Host
	peer peer.ID
	dir  network.Direction
}

func (s *memberStream) SetProtocol(proto protocol.ID) error {
	if err := s.h.admitStream(s.peer, s.dir, proto); err != nil {
		return err
	}
	return s.StreamManagementScope.SetProtocol(proto)
}

// admitStream returns nil once a stream with p may carry proto, and why not
// otherwise.
func (h *Host) admitStream(p peer.ID, dir network.Direction, proto protocol.ID) error {
	if proto == ProtocolMember || h.isInterop(p) {
		return nil
	}
	select {
	case <-h.ready:
		if _, ok := h.Member(p); ok { // every stream of a member: no timer
			return nil
		}
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.HelloTimeout)
	defer cancel()
	select {
	case <-h.ready: // a stream may arrive while New still builds the host
	case <-ctx.Done():
		return fmt.Errorf("p2p: %s stream with %s: %w", proto, p, ErrHelloTimeout)
	}
	if _, err := h.waitMember(ctx, p); err != nil {
		h.log.Debug("stream before membership refused", "peer", p, "protocol", proto, "direction", dir, "err", err)
		return fmt.Errorf("p2p: %s stream with %s: %w", proto, p, err)
	}
	return nil
}

// openHello opens the member protocol on the connection to p. It does not
// wait for identify as host.NewStream does: the peer answers identify to
// members only, so it would wait in vain.
func (h *Host) openHello(ctx context.Context, p peer.ID) (network.Stream, error) {
	s, err := h.raw.Network().NewStream(network.WithNoDial(ctx, "hello on a new connection"), p)
	if err != nil {
		return nil, fmt.Errorf("hello: open stream: %w", err)
	}
	if d, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(d)
	}
	if err := s.SetProtocol(ProtocolMember); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("hello: %w", err)
	}
	if err := msmux.SelectProtoOrFail(ProtocolMember, s); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("hello: negotiate %s: %w", ProtocolMember, err)
	}
	return s, nil
}
