package p2p

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// rttWeight is the weight of a new ping sample in the per-peer moving average.
const rttWeight = 0.3

// Run keeps the host's background work going until ctx ends: bootstrap reconnects,
// mDNS, RTT measurement, re-verification of members (expiry) and re-announcing roots.
// It returns nil when ctx ends; Close still has to be called.
func (h *Host) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	if h.cfg.MDNS {
		svc := mdns.NewMdnsService(h.raw, MDNSServiceName, (*mdnsNotifee)(h))
		if err := svc.Start(); err != nil {
			h.log.Warn("mdns not started", "err", err)
		} else {
			defer svc.Close()
		}
	}
	for _, ai := range h.bootstrap {
		wg.Go(func() { h.keepConnected(ctx, ai) })
	}
	relays, _ := parseAddrInfos(h.cfg.Relays, "Relays") // validated in New
	for _, ai := range relays {
		wg.Go(func() { h.keepRelay(ctx, ai) })
	}
	if h.deps.Roots != nil {
		wg.Go(func() { h.reprovide(ctx) })
	}
	t := time.NewTicker(h.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			h.reverify()
			for _, p := range h.Peers() {
				wg.Go(func() { h.measure(p.ID) })
			}
		}
	}
}

// measure pings p once and folds the sample into its RTT average.
func (h *Host) measure(p peer.ID) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.HelloTimeout)
	defer cancel()
	res := <-ping.Ping(ctx, h.raw, p)
	if res.Error != nil {
		h.log.Debug("ping", "peer", p, "err", res.Error)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.members[p]; !ok {
		return
	}
	if old := h.rtt[p]; old > 0 {
		h.rtt[p] = time.Duration(rttWeight*float64(res.RTT) + (1-rttWeight)*float64(old))
	} else {
		h.rtt[p] = max(res.RTT, 1)
	}
}

// keepConnected dials a bootstrap peer whenever it is not connected, backing off
// exponentially (with jitter) while it fails.
func (h *Host) keepConnected(ctx context.Context, ai peer.AddrInfo) {
	base := h.cfg.BootstrapInterval
	backoff := base
	for {
		delay := base
		if h.raw.Network().Connectedness(ai.ID) != network.Connected && !h.isRefused(ai.ID) {
			cctx, cancel := context.WithTimeout(ctx, h.cfg.HelloTimeout)
			err := h.Connect(cctx, ai)
			cancel()
			if err != nil {
				h.log.Debug("bootstrap peer unreachable", "peer", ai.ID, "err", err, "retry", backoff)
				delay = backoff + time.Duration(rand.Int64N(int64(backoff)/4+1))
				backoff = min(backoff*2, 32*base)
			} else {
				backoff = base
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// reprovide announces Deps.Roots now and every ReprovideInterval; while the DHT has
// no peers it retries sooner.
func (h *Host) reprovide(ctx context.Context) {
	delay := h.cfg.BootstrapInterval
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		roots, err := h.deps.Roots(ctx)
		if err != nil {
			h.log.Warn("listing roots to announce", "err", err)
			delay = time.Minute
			continue
		}
		failed := 0
		for _, c := range roots {
			if err := h.Provide(ctx, c); err != nil {
				failed++
				h.log.Debug("announce", "cid", c, "err", err)
			}
		}
		delay = h.cfg.ReprovideInterval
		if failed > 0 {
			// Usually no DHT peer yet: try again once bootstrap had a chance.
			delay = min(delay, 4*h.cfg.BootstrapInterval)
		}
		h.log.Info("roots announced", "roots", len(roots), "failed", failed)
	}
}

type mdnsNotifee Host

func (n *mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	h := (*Host)(n)
	if ai.ID == h.raw.ID() || h.isRefused(ai.ID) || h.raw.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.HelloTimeout)
		defer cancel()
		if err := h.Connect(ctx, ai); err != nil {
			h.log.Debug("mdns peer", "peer", ai.ID, "err", err)
		}
	}()
}
