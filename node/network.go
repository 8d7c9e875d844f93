package node

import (
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/gossip"
	"github.com/cairnhub/cairn/sovereignty"
)

// networkOptions completes the host config from the p2p section and the
// node's roles: bounded connections, relay service (mirror role) and
// static relays (edge role: its bootstrap peers).
func (d *Daemon) networkOptions(pc *p2p.Config, o DaemonOptions, trust *sovereignty.Trust, cert []byte, opts []libp2p.Option) ([]libp2p.Option, error) {
	cfg := d.n.Config.P2P
	limits := gossip.ConnLimits{MaxPeers: cfg.MaxPeers}
	if o.MaxPeers > 0 {
		limits.MaxPeers = o.MaxPeers
	}
	cm, err := gossip.ConnManager(limits)
	if err != nil {
		return nil, fmt.Errorf("p2p.max_peers: %w", err)
	}
	var roles []string
	if m, err := trust.VerifyBytes(cert, d.n.ID.String(), time.Now()); err == nil {
		roles = m.Roles
	}
	pc.RelayService = slices.Contains(roles, "mirror")
	if cfg.RelayService != nil {
		pc.RelayService = *cfg.RelayService
	}
	pc.Relays = cfg.Relays
	if cfg.Relays == nil && slices.Contains(roles, "edge") {
		pc.Relays = pc.Bootstrap
	}
	return append(opts, cm), nil
}

// protectRelays keeps the connections to this node's relays out of the
// connection manager's trimming.
func (d *Daemon) protectRelays(relays []string) {
	for _, s := range relays {
		ai, err := peer.AddrInfoFromString(s)
		if err == nil {
			d.Host.Libp2p().ConnManager().Protect(ai.ID, gossip.TagRelay)
		}
	}
}
