package gossip

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/p2p/rpc"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A policy and a holdings summary published at one end of a chain reach the
// other end: every hop validates and relays.
func TestChainDelivery(t *testing.T) {
	o := newOrg(t)
	ns := honest(t, o, 4)
	chain(t, ns, KindPolicy, KindHoldings)
	a, d := ns[0], ns[3]
	ctx := context.Background()

	publish(t, a.g.PublishPolicy(ctx, o.policy(t, 1)))
	e := d.next(t, from(KindPolicy, a.h.ID()), nil)
	if policyVersion(e) != 1 {
		t.Fatalf("policy at the far end: %v", e.value)
	}
	h := Holdings{Mirror: true, Held: []Held{{Key: "model/acme/llama@main", Commit: commit}}}
	publish(t, a.g.PublishHoldings(ctx, h))
	d.next(t, from(KindHoldings, a.h.ID()), nil)
	full, partial := d.g.Holders("model/acme/llama@main")
	if len(full) != 1 || full[0] != a.h.ID() || len(partial) != 0 {
		t.Fatalf("holders at the far end: %v, %v", full, partial)
	}
	for i, n := range ns[1:] {
		if acc, _, rej := n.g.Verdicts(KindPolicy); acc != 1 || rej != 0 {
			t.Errorf("node %d policy verdicts: accepted %d, rejected %d", i+1, acc, rej)
		}
	}
	// Publishing the same version again is refused where it starts.
	if err := a.g.PublishPolicy(ctx, o.policy(t, 1)); !errors.Is(err, ErrStale) {
		t.Fatalf("republish of version 1: %v, want ErrStale", err)
	}
}

// A non-member's message is rejected by the first member it reaches and goes
// no further, whether it comes straight from the non-member or through a
// dishonest member that relays anything.
func TestNonMemberDropped(t *testing.T) {
	for _, viaRelay := range []bool{false, true} {
		name := map[bool]string{false: "direct", true: "through a dishonest relay"}[viaRelay]
		t.Run(name, func(t *testing.T) {
			o := newOrg(t)
			// x's certificate is from an organisation nobody trusts.
			x := newNode(t, o, nodeOpt{issuer: newOrg(t)})
			path := []*node{x}
			if viaRelay {
				path = append(path, newNode(t, o, nodeOpt{}))
			}
			first, last := newNode(t, o, nodeOpt{honest: true}), newNode(t, o, nodeOpt{honest: true})
			path = append(path, first, last)
			chain(t, path, KindHoldings)

			publish(t, x.g.PublishHoldings(context.Background(), Holdings{Held: []Held{{Key: "model/x/bad@main"}}}))
			eventually(t, "the first honest member rejects the outsider's message", func() bool {
				_, _, rej := first.g.Verdicts(KindHoldings)
				return rej == 1
			})
			// A marker published after the rejection reaches the end of
			// the chain; the outsider's message never did.
			publish(t, first.g.PublishHoldings(context.Background(), Holdings{}))
			last.next(t, from(KindHoldings, first.h.ID()), from(KindHoldings, x.h.ID()))
			if _, ok := last.g.Holdings()[x.h.ID()]; ok {
				t.Fatal("the outsider's holdings reached the end of the chain")
			}
			if _, _, rej := last.g.Verdicts(KindHoldings); rej != 0 {
				t.Fatalf("the end of the chain saw %d invalid messages: something relayed them", rej)
			}
		})
	}
}

// A policy with a forged organisation signature is rejected by the first
// honest node, never relayed, and costs its sender score until it is
// graylisted.
func TestForgedPolicyPenalised(t *testing.T) {
	o := newOrg(t)
	m := newNode(t, o, nodeOpt{}) // a member whose checks pass anything
	b, c := newNode(t, o, nodeOpt{honest: true}), newNode(t, o, nodeOpt{honest: true})
	chain(t, []*node{m, b, c}, KindPolicy, KindHoldings)
	ctx := context.Background()

	forge := func(v uint64) []byte {
		p := o.policy(t, v)
		i := bytes.Index(p, []byte("signature: ")) + len("signature: ")
		p[i] ^= 'A' ^ 'B' // base64 stays base64, the signature no longer verifies
		if p[i] != 'A' && p[i] != 'B' {
			p[i] = 'A'
		}
		return p
	}
	publish(t, m.g.PublishPolicy(ctx, forge(1)))
	eventually(t, "b rejects the forged policy and scores its sender below zero", func() bool {
		_, _, rej := b.g.Verdicts(KindPolicy)
		return rej == 1 && b.g.Scores()[m.h.ID()] < 0
	})
	// Flooding forgeries gets the sender graylisted: its messages are no
	// longer even read.
	for v := uint64(2); v <= 8; v++ {
		publish(t, m.g.PublishPolicy(ctx, forge(v)))
	}
	eventually(t, "b graylists the forger", func() bool {
		return b.g.Scores()[m.h.ID()] < DefaultGraylist
	})
	publish(t, b.g.PublishHoldings(ctx, Holdings{}))
	c.next(t, from(KindHoldings, b.h.ID()), func(e hevent) bool { return e.kind == KindPolicy })
	if _, _, rej := c.g.Verdicts(KindPolicy); rej != 0 {
		t.Fatalf("c saw %d forged policies: b relayed them", rej)
	}
}

// A policy older than the one in force is ignored: not relayed, and the
// sender (which may simply be behind) is not penalised.
func TestOldVersionIgnored(t *testing.T) {
	o := newOrg(t)
	ns := honest(t, o, 3)
	a, b, c := ns[0], ns[1], ns[2]
	chain(t, ns, KindPolicy, KindHoldings)
	ctx := context.Background()
	publish(t, a.g.PublishPolicy(ctx, o.policy(t, 2)))
	c.next(t, from(KindPolicy, a.h.ID()), nil)

	late := newNode(t, o, nodeOpt{honest: true}) // no catch-up: it holds no policy
	connect(t, late, b)
	waitPeers(t, late, KindPolicy, 1)
	waitPeers(t, late, KindHoldings, 1)
	publish(t, late.g.PublishPolicy(ctx, o.policy(t, 1)))
	eventually(t, "b ignores version 1", func() bool {
		_, ign, _ := b.g.Verdicts(KindPolicy)
		return ign == 1
	})
	publish(t, late.g.PublishHoldings(ctx, Holdings{}))
	c.next(t, from(KindHoldings, late.h.ID()), func(e hevent) bool { return e.kind == KindPolicy })
	if acc, ign, rej := b.g.Verdicts(KindPolicy); acc != 1 || rej != 0 || ign != 1 {
		t.Fatalf("b policy verdicts: %d accepted, %d ignored, %d rejected", acc, ign, rej)
	}
	eventually(t, "b's score of the late node is refreshed", func() bool {
		_, ok := b.g.Scores()[late.h.ID()]
		return ok
	})
	if s := b.g.Scores()[late.h.ID()]; s < 0 {
		t.Fatalf("the late node was penalised for an old version: score %v", s)
	}
}

// A payload over its kind's limit is rejected by the first honest node.
func TestOversizedDropped(t *testing.T) {
	o := newOrg(t)
	m := newNode(t, o, nodeOpt{cfg: Config{MaxAdvert: 256 << 10}})
	b, c := newNode(t, o, nodeOpt{honest: true}), newNode(t, o, nodeOpt{honest: true})
	chain(t, []*node{m, b, c}, KindAdvert)
	ctx := context.Background()
	var models []string
	for i := range 100 {
		models = append(models, strings.Repeat("m", 200)+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	publish(t, m.g.PublishAdvert(ctx, Advert{Models: models}))
	eventually(t, "b rejects the oversized advert and penalises its sender", func() bool {
		_, _, rej := b.g.Verdicts(KindAdvert)
		return rej == 1 && b.g.Scores()[m.h.ID()] < 0
	})
	publish(t, b.g.PublishAdvert(ctx, Advert{Models: []string{"llama"}}))
	c.next(t, from(KindAdvert, b.h.ID()), from(KindAdvert, m.h.ID()))
	if err := b.g.PublishAdvert(ctx, Advert{Models: models}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("publishing an oversized advert: %v, want ErrTooLarge", err)
	}
}

// A node that joins after the state was gossiped asks one neighbour and gets
// it all: policy, revocations, intents, holdings, adverts.
func TestLateJoinerCatchesUp(t *testing.T) {
	o := newOrg(t)
	ns := honest(t, o, 2)
	a, b := ns[0], ns[1]
	chain(t, ns, Kinds()...)
	ctx := context.Background()
	revs, err := sovereignty.Revoke(o.key, "acme", nil, "some-serial")
	if err != nil {
		t.Fatal(err)
	}
	publish(t, a.g.PublishPolicy(ctx, o.policy(t, 3)))
	publish(t, a.g.PublishRevocations(ctx, revs))
	publish(t, a.g.PublishIntent(ctx, Intent{Key: "model/acme/llama@main", Replicas: 3}))
	publish(t, a.g.PublishHoldings(ctx, Holdings{Held: []Held{{Key: "model/acme/llama@main", Partial: true}}}))
	publish(t, a.g.PublishAdvert(ctx, Advert{Models: []string{"llama"}, Slots: 4}))
	seen := map[Kind]bool{}
	for len(seen) < 5 {
		seen[b.next(t, func(e hevent) bool { return e.author == a.h.ID() }, nil).kind] = true
	}

	late := newNode(t, o, nodeOpt{honest: true, catchUp: true})
	connect(t, late, b)
	got := map[Kind]hevent{}
	for len(got) < 5 {
		e := late.next(t, func(e hevent) bool { return e.author == a.h.ID() }, nil)
		got[e.kind] = e
	}
	if policyVersion(got[KindPolicy]) != 3 || !bytes.Equal(got[KindRevocations].value.([]byte), revs) {
		t.Fatalf("caught-up policy %v, revocations %q", got[KindPolicy].value, got[KindRevocations].value)
	}
	if in := late.g.Intents()["model/acme/llama@main"]; in.Replicas != 3 || in.By != a.h.ID() {
		t.Fatalf("caught-up intent %+v", in)
	}
	if _, partial := late.g.Holders("model/acme/llama@main"); len(partial) != 1 {
		t.Fatalf("caught-up partial holders %v", partial)
	}
	// The state stays checked: an older policy offered later is stale.
	if err := late.g.PublishPolicy(ctx, o.policy(t, 2)); !errors.Is(err, ErrStale) {
		t.Fatalf("policy 2 after catching up on 3: %v", err)
	}
}

// A catch-up answer whose message was altered after signing applies nothing.
func TestCatchUpRefusesTampered(t *testing.T) {
	o := newOrg(t)
	a := newNode(t, o, nodeOpt{honest: true})
	publish(t, a.g.PublishPolicy(context.Background(), o.policy(t, 1)))
	raws := a.g.state.raws(stateKinds, 1<<20)
	if len(raws) != 1 {
		t.Fatalf("%d stored messages, want 1", len(raws))
	}
	// The stored message carries the signed policy; a neighbour that swaps
	// the version breaks the author's signature.
	tampered := bytes.Replace(raws[0], []byte("version: 1\n"), []byte("version: 9\n"), 1)
	if bytes.Equal(tampered, raws[0]) {
		t.Fatal("test did not tamper")
	}
	fake, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	o.issue(t, fake.ID()) // a member, so only the tampering fails the answer
	fake.SetStreamHandler(ProtocolState, func(s network.Stream) {
		if _, err := rpc.Read(s, 16); err == nil {
			_ = rpc.Reply(s, encodeState([][]byte{tampered, raws[0]}))
		}
	})
	late := newNode(t, o, nodeOpt{honest: true})
	if err := late.h.Connect(context.Background(), peer.AddrInfo{ID: fake.ID(), Addrs: fake.Addrs()}); err != nil {
		t.Fatal(err)
	}
	r, err := late.g.CatchUp(context.Background(), fake.ID())
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("catch-up with a tampered message: %v", err)
	}
	// The untouched copy is still good, and applies.
	if r.Messages != 2 || r.Applied != 1 {
		t.Fatalf("catch-up result %+v", r)
	}
	if e := late.next(t, func(e hevent) bool { return e.kind == KindPolicy }, nil); policyVersion(e) != 1 {
		t.Fatalf("applied policy %v", e.value)
	}
}

// Protection survives the end of another transfer with the same peer.
func TestProtect(t *testing.T) {
	opt, err := ConnManager(ConnLimits{MaxPeers: 4})
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	p := peer.ID("some peer")
	r1, r2 := Protect(h, p, TagTransfer), Protect(h, p, TagTransfer)
	r1()
	r1()
	if !h.ConnManager().IsProtected(p, "") {
		t.Fatal("ending one transfer unprotected the other")
	}
	r2()
	if h.ConnManager().IsProtected(p, "") {
		t.Fatal("still protected after both transfers ended")
	}
}

// Once an author's certificate is revoked, its messages are ignored (the
// relay may not have had the list yet, so it is not penalised).
func TestRevokedAuthorIgnored(t *testing.T) {
	o := newOrg(t)
	ns := honest(t, o, 2)
	a, b := ns[0], ns[1]
	chain(t, ns, KindHoldings)
	ctx := context.Background()
	publish(t, a.g.PublishHoldings(ctx, Holdings{}))
	b.next(t, from(KindHoldings, a.h.ID()), nil)

	c, err := sovereignty.ParseCertificate(a.cert)
	if err != nil {
		t.Fatal(err)
	}
	list, err := sovereignty.Revoke(o.key, "acme", nil, c.Serial)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.trust.AddRevocations(list); err != nil {
		t.Fatal(err)
	}
	b.g.ForgetCertificates()
	// a's own cache still vouches for it, so it publishes; b refuses.
	publish(t, a.g.PublishHoldings(ctx, Holdings{}))
	eventually(t, "b ignores the revoked author", func() bool {
		_, ign, _ := b.g.Verdicts(KindHoldings)
		return ign == 1
	})
	if acc, _, rej := b.g.Verdicts(KindHoldings); acc != 1 || rej != 0 {
		t.Fatalf("b holdings verdicts: %d accepted, %d rejected", acc, rej)
	}
}
