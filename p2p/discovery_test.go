package p2p

import (
	"context"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestProvideFindProviders: a root announced by one member is found by another that
// is connected only through a third (the DHT under /cairn routes the query).
func TestProvideFindProviders(t *testing.T) {
	acme := newOrg(t, "acme")
	a := member(t, acme, "a", "DE", acme)
	b := member(t, acme, "b", "DE", acme)
	c := member(t, acme, "c", "DE", acme)
	connect(t, b, a)
	connect(t, c, a)
	for _, h := range []*Host{a, b, c} {
		eventually(t, 5*time.Second, "routing table filled", func() bool { return h.dht.RoutingTable().Size() > 0 })
	}
	root := blocks.NewBlock([]byte("repo revision root")).Cid()
	ctx, cancel := contextWithTimeout(t, 10*time.Second)
	defer cancel()
	if err := b.Provide(ctx, root); err != nil {
		t.Fatalf("Provide = %v", err)
	}
	var got []peer.AddrInfo
	eventually(t, 8*time.Second, "c finds b as provider", func() bool {
		fctx, fcancel := contextWithTimeout(t, 2*time.Second)
		defer fcancel()
		var err error
		got, err = c.FindProviders(fctx, root, 5)
		return err == nil && len(got) == 1 && got[0].ID == b.ID()
	})
	if mine, _ := b.FindProviders(ctx, root, 5); len(mine) != 0 {
		t.Errorf("b.FindProviders(own root) = %v, want itself left out", mine)
	}
}

// TestBootstrapReconnects: a node with a static bootstrap peer joins it on its own and
// rejoins after the connection drops.
func TestBootstrapReconnects(t *testing.T) {
	acme := newOrg(t, "acme")
	a := member(t, acme, "a", "DE", acme)
	k := newKey(t)
	now := time.Now()
	cfg := testConfig(k)
	cfg.Bootstrap = []string{a.Addrs()[0].String()}
	cfg.BootstrapInterval = 100 * time.Millisecond
	b := startNode(t, cfg, nodeOpts{cert: acme.certify(t, k, "b", "DE", now.Add(-time.Minute), now.Add(time.Hour)), trust: newTrust(t, acme)})
	eventually(t, 10*time.Second, "bootstrap peer joined", func() bool { _, ok := b.Member(a.ID()); return ok })
	// Events, not polling: the bootstrap loop may rejoin a within one poll interval.
	ctx, cancel := contextWithTimeout(t, 15*time.Second)
	defer cancel()
	events := b.Subscribe(ctx)
	_ = b.Libp2p().Network().ClosePeer(a.ID())
	for left := false; ; {
		select {
		case ev := <-events:
			if ev.Peer != a.ID() {
				continue
			}
			if !ev.Joined {
				left = true
			} else if left {
				return // left, then rejoined
			}
		case <-ctx.Done():
			t.Fatal("bootstrap peer did not leave and rejoin within 15s")
		}
	}
}

// TestQUICOnly: members connect over QUIC alone.
func TestQUICOnly(t *testing.T) {
	acme := newOrg(t, "acme")
	a := member(t, acme, "a", "DE", acme)
	b := member(t, acme, "b", "DE", acme)
	ai := a.AddrInfo()
	ai.Addrs = nil
	for _, addr := range a.Libp2p().Addrs() {
		if isQUIC(addr) {
			ai.Addrs = append(ai.Addrs, addr)
		}
	}
	if len(ai.Addrs) == 0 {
		t.Fatalf("Addrs() = %v, want a QUIC address", a.Libp2p().Addrs())
	}
	ctx, cancel := contextWithTimeout(t, 10*time.Second)
	defer cancel()
	if err := b.Connect(ctx, ai); err != nil {
		t.Fatalf("Connect over QUIC = %v", err)
	}
	for _, c := range b.Libp2p().Network().ConnsToPeer(a.ID()) {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_QUIC_V1); err != nil {
			t.Errorf("connection over %s, want QUIC", c.RemoteMultiaddr())
		}
	}
	if b.Libp2p().Network().Connectedness(a.ID()) != network.Connected {
		t.Errorf("not connected")
	}
}

// TestReprovideRoots: the roots Deps.Roots lists are announced without anyone calling
// Provide, once the bootstrap peer is reached.
func TestReprovideRoots(t *testing.T) {
	acme := newOrg(t, "acme")
	a := member(t, acme, "a", "DE", acme)
	c := member(t, acme, "c", "DE", acme)
	connect(t, c, a)
	root := blocks.NewBlock([]byte("another revision root")).Cid()
	k := newKey(t)
	now := time.Now()
	cfg := testConfig(k)
	cfg.Bootstrap = []string{a.Addrs()[0].String()}
	cfg.BootstrapInterval = 100 * time.Millisecond
	b := startNode(t, cfg, nodeOpts{key: k, trust: newTrust(t, acme),
		cert:  acme.certify(t, k, "b", "DE", now.Add(-time.Minute), now.Add(time.Hour)),
		roots: func(context.Context) ([]cid.Cid, error) { return []cid.Cid{root}, nil }})
	eventually(t, 15*time.Second, "c finds b's root", func() bool {
		fctx, fcancel := contextWithTimeout(t, 2*time.Second)
		defer fcancel()
		got, err := c.FindProviders(fctx, root, 5)
		return err == nil && len(got) == 1 && got[0].ID == b.ID()
	})
}
