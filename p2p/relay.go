package p2p

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

// Edge nodes behind NAT are reached through circuit relay v2 on mirrors.
// go-libp2p's AutoRelay advertises only public relay addresses, and a
// private network's mirrors have none, so the host keeps its reservations
// itself (Config.Relays) and advertises the relayed addresses through its
// address factory; identify and the DHT carry them to the other members.

// relayOptions are the libp2p options of relaying: every host dials
// relayed addresses and hole-punches; a relay host serves members.
func (h *Host) relayOptions() []libp2p.Option {
	opts := []libp2p.Option{
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(),
		libp2p.AddrsFactory(h.withRelayAddrs),
	}
	if h.cfg.RelayService {
		opts = append(opts,
			libp2p.EnableRelayService(
				relay.WithInfiniteLimits(),
				relay.WithACL(memberACL{h}),
				// Members of a private network are reached on private addresses.
				relay.WithReservationAddressFilter(func(ma.Multiaddr) bool { return true }),
			),
			libp2p.EnableNATService(),
			// go-libp2p starts the relay service only on a host it believes
			// publicly reachable; a mirror that offers relaying is reachable
			// by the members it serves, which AutoNAT inside a private
			// network rarely has enough peers to establish.
			libp2p.ForceReachabilityPublic(),
		)
	}
	return opts
}

// memberACL lets members only reserve and be connected through the relay.
type memberACL struct{ h *Host }

func (a memberACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool {
	_, ok := a.h.Member(p)
	return ok
}

func (a memberACL) AllowConnect(src peer.ID, _ ma.Multiaddr, dest peer.ID) bool {
	_, s := a.h.Member(src)
	_, d := a.h.Member(dest)
	return s && d
}

// withRelayAddrs adds the relayed addresses of the current reservations to
// the host's own.
func (h *Host) withRelayAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, rs := range h.relayAddrs {
		addrs = append(addrs, rs...)
	}
	return addrs
}

// RelayAddrs returns the relayed addresses the host advertises.
func (h *Host) RelayAddrs() []ma.Multiaddr { return h.withRelayAddrs(nil) }

func (h *Host) setRelayAddrs(relay peer.ID, addrs []ma.Multiaddr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(addrs) == 0 {
		delete(h.relayAddrs, relay)
		return
	}
	h.relayAddrs[relay] = addrs
}

// keepRelay holds a reservation on one Config.Relays member until ctx
// ends, renewing it every RelayRefresh (or at half its life) and retrying
// a lost one with backoff. Run calls it.
func (h *Host) keepRelay(ctx context.Context, ai peer.AddrInfo) {
	backoff := time.Second
	for {
		wait := h.cfg.RelayRefresh
		rsvp, err := h.reserve(ctx, ai)
		if err != nil {
			h.setRelayAddrs(ai.ID, nil)
			h.log.Info("relay reservation failed; retrying", "relay", ai.ID, "in", backoff, "err", err)
			wait, backoff = backoff, min(2*backoff, h.cfg.RelayRefresh)
		} else {
			backoff = time.Second
			h.setRelayAddrs(ai.ID, circuitAddrs(ai, rsvp))
			wait = min(wait, time.Until(rsvp.Expiration)/2)
			h.log.Debug("relay reservation", "relay", ai.ID, "expires", rsvp.Expiration)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// reserve connects to the relay as a member and asks it for a reservation.
func (h *Host) reserve(ctx context.Context, ai peer.AddrInfo) (*client.Reservation, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*h.cfg.HelloTimeout)
	defer cancel()
	if err := h.Connect(ctx, ai); err != nil {
		return nil, err
	}
	if len(ai.Addrs) == 0 {
		ai.Addrs = h.raw.Peerstore().Addrs(ai.ID)
	}
	rsvp, err := client.Reserve(ctx, h.raw, ai)
	if err != nil {
		return nil, fmt.Errorf("reserve on %s: %w", ai.ID, err)
	}
	return rsvp, nil
}

// circuitAddrs are this host's addresses through the relay: every address
// the relay gave in its reservation (or was dialled on), then /p2p-circuit.
func circuitAddrs(ai peer.AddrInfo, rsvp *client.Reservation) []ma.Multiaddr {
	base := rsvp.Addrs
	if len(base) == 0 {
		base = ai.Addrs
	}
	suffix := ma.StringCast(fmt.Sprintf("/p2p/%s/p2p-circuit", ai.ID))
	var out []ma.Multiaddr
	for _, a := range base {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			continue
		}
		a, _ = ma.SplitFunc(a, func(c ma.Component) bool { return c.Protocol().Code == ma.P_P2P })
		out = append(out, a.Encapsulate(suffix))
	}
	return out
}
