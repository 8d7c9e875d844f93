package p2p

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	blocks "github.com/ipfs/go-block-format"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestMembersSeeEachOther(t *testing.T) {
	acme := newOrg(t, "acme")
	a := member(t, acme, "eu-central", "DE", acme)
	b := member(t, acme, "eu-west", "FR", acme)
	c := member(t, acme, "eu-north", "SE", acme)
	events := a.Subscribe(t.Context())

	connect(t, b, a)
	connect(t, c, a)
	connect(t, c, b)

	tests := []struct {
		from, to *Host
		region   string
		cc       string
	}{
		{a, b, "eu-west", "FR"}, {a, c, "eu-north", "SE"}, {b, a, "eu-central", "DE"},
		{b, c, "eu-north", "SE"}, {c, a, "eu-central", "DE"}, {c, b, "eu-west", "FR"},
	}
	for _, tt := range tests {
		m, ok := tt.from.Member(tt.to.ID())
		if !ok {
			t.Fatalf("%s.Member(%s) = not a member, want member", tt.from.ID().ShortString(), tt.to.ID().ShortString())
		}
		if m.Org != "acme" || m.Region != tt.region || m.Jurisdiction != tt.cc || !m.HasRole("mirror") || m.PeerID != tt.to.ID().String() {
			t.Errorf("Member attributes = %+v, want org acme, region %s, jurisdiction %s, role mirror", m, tt.region, tt.cc)
		}
	}

	joined := map[string]bool{}
	for len(joined) < 2 {
		select {
		case ev := <-events:
			if !ev.Joined {
				t.Fatalf("event %+v, want joins only", ev)
			}
			joined[ev.Member.Region] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("join events = %v, want eu-west and eu-north", joined)
		}
	}

	// RTT: the ping loop measures every member.
	eventually(t, 10*time.Second, "RTT of both members measured", func() bool {
		ps := a.Peers()
		return len(ps) == 2 && ps[0].RTT > 0 && ps[1].RTT > 0
	})
	ps := a.Peers()
	if ps[0].RTT > ps[1].RTT {
		t.Errorf("Peers() RTTs = %v, %v, want nearest first", ps[0].RTT, ps[1].RTT)
	}
	if len(ps[0].Addrs) == 0 || ps[0].Member == nil {
		t.Errorf("Peers()[0] = %+v, want addresses and certificate attributes", ps[0])
	}

	// Leaving: closing c produces a leave event on a and drops it from Peers.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for left := false; !left; {
		select {
		case ev := <-events:
			left = !ev.Joined && ev.Peer == c.ID()
		case <-deadline:
			t.Fatal("no leave event for the closed member")
		}
	}
	if _, ok := a.Member(c.ID()); ok {
		t.Errorf("Member(closed peer) = member, want gone")
	}
}

// TestOutsidersRefused: a node without a certificate, with an expired one, one issued
// to another peer, or one from an untrusted organisation is disconnected, refused by
// the gater afterwards, and never becomes a member.
func TestOutsidersRefused(t *testing.T) {
	acme := newOrg(t, "acme")
	evil := newOrg(t, "evil")
	a := member(t, acme, "eu-central", "DE", acme)
	now := time.Now()
	secret := blocks.NewBlock([]byte("only members may read this"))
	if err := a.deps.Blockstore.Put(t.Context(), secret); err != nil {
		t.Fatal(err)
	}

	type tc struct {
		name string
		cert func(t *testing.T, key crypto.PrivKey) []byte
		want error
	}
	cases := []tc{
		{"no certificate", func(t *testing.T, key crypto.PrivKey) []byte { return nil }, ErrNoCertificate},
		{"expired", func(t *testing.T, key crypto.PrivKey) []byte {
			return acme.certify(t, key, "x", "DE", now.Add(-2*time.Hour), now.Add(-time.Hour))
		}, sovereignty.ErrExpired},
		{"untrusted org", func(t *testing.T, key crypto.PrivKey) []byte {
			return evil.certify(t, key, "x", "DE", now.Add(-time.Minute), now.Add(time.Hour))
		}, sovereignty.ErrUntrustedOrg},
		{"issued to another peer", func(t *testing.T, key crypto.PrivKey) []byte {
			return acme.certify(t, newKey(t), "x", "DE", now.Add(-time.Minute), now.Add(time.Hour))
		}, sovereignty.ErrWrongPeer},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(t)
			x := newNode(t, nodeOpts{key: k, cert: tt.cert(t, k), trust: newTrust(t, acme, evil)})
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := x.Connect(ctx, a.AddrInfo()); err == nil {
				t.Fatalf("outsider Connect = nil, want refusal")
			}
			eventually(t, 5*time.Second, "member refuses outsider", func() bool { _, ok := a.Refused(x.ID()); return ok })
			reason, _ := a.Refused(x.ID())
			if !errors.Is(reason, tt.want) {
				t.Errorf("Refused reason = %v, want %v", reason, tt.want)
			}
			if _, ok := a.Member(x.ID()); ok {
				t.Errorf("Member(outsider) = member, want not")
			}
			eventually(t, 5*time.Second, "outsider disconnected", func() bool {
				return a.Libp2p().Network().Connectedness(x.ID()) != network.Connected
			})
			// The gater now turns the outsider away in both directions.
			if err := a.Connect(ctx, x.AddrInfo()); err == nil {
				t.Errorf("member dialling a refused peer = nil, want gater refusal")
			}
			if slices.ContainsFunc(a.Peers(), func(p PeerInfo) bool { return p.ID == x.ID() }) {
				t.Errorf("Peers() lists the outsider")
			}
			// Nothing flows: no block, no gated protocol.
			gctx, gcancel := context.WithTimeout(t.Context(), time.Second)
			defer gcancel()
			if _, err := x.GetBlock(gctx, secret.Cid()); err == nil {
				t.Errorf("outsider GetBlock = block, want nothing")
			}
			if s, err := x.Libp2p().NewStream(gctx, a.ID(), ProtocolRevocations); err == nil {
				_ = s.Reset()
				t.Errorf("outsider opened a gated stream to the member")
			}
		})
	}
}

// TestSimultaneousDial: two members dialling each other at once both end up members,
// whichever connections survive.
func TestSimultaneousDial(t *testing.T) {
	acme := newOrg(t, "acme")
	a := member(t, acme, "a", "DE", acme)
	b := member(t, acme, "b", "DE", acme)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- a.Connect(ctx, b.AddrInfo()) }()
	go func() { errs <- b.Connect(ctx, a.AddrInfo()) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("Connect = %v, want nil", err)
		}
	}
	eventually(t, 5*time.Second, "both members", func() bool {
		_, ok1 := a.Member(b.ID())
		_, ok2 := b.Member(a.ID())
		return ok1 && ok2
	})
	if _, ok := a.Refused(b.ID()); ok {
		t.Errorf("a refused b after a simultaneous dial")
	}
}

// TestRenewedCertificateAdmittedAtOnce: a node refused for an expired
// certificate learns why, and once renewed is admitted without waiting out
// the refusal; the refusing node reports the refusal.
func TestRenewedCertificateAdmittedAtOnce(t *testing.T) {
	acme := newOrg(t, "acme")
	refusals := make(chan error, 8)
	k := newKey(t)
	now := time.Now()
	cfg := testConfig(newKey(t))
	cfg.RefuseFor = 10 * time.Minute
	aKey := cfg.Key
	a := startNode(t, cfg, nodeOpts{key: aKey, cert: acme.certify(t, aKey, "a", "DE", now.Add(-time.Minute), now.Add(time.Hour)), trust: newTrust(t, acme)})
	a.deps.OnRefused = func(_ peer.ID, reason error) { refusals <- reason }
	b := newNode(t, nodeOpts{key: k, cert: acme.certify(t, k, "b", "DE", now.Add(-2*time.Hour), now.Add(-time.Hour)), trust: newTrust(t, acme)})

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := b.Connect(ctx, a.AddrInfo()); err == nil {
		t.Fatal("an expired certificate was admitted")
	}
	select {
	case r := <-refusals:
		if !errors.Is(r, sovereignty.ErrExpired) {
			t.Fatalf("OnRefused reason %v, want ErrExpired", r)
		}
	case <-ctx.Done():
		t.Fatal("OnRefused not called")
	}
	eventually(t, 5*time.Second, "the refused node knows why", func() bool {
		r, ok := b.Refused(a.ID())
		return ok && strings.Contains(r.Error(), "expired")
	})

	if err := b.SetCertificate(acme.certify(t, k, "b", "DE", now.Add(-time.Minute), now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	// Well within a's 10-minute refusal: admitted after the short retry pause.
	var err error
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(250 * time.Millisecond) {
		if err = b.Connect(ctx, a.AddrInfo()); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("renewed certificate not admitted: %v", err)
	}
	eventually(t, 5*time.Second, "a admits b", func() bool { _, ok := a.Member(b.ID()); return ok })
}
