package p2p

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	blocks "github.com/ipfs/go-block-format"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
)

// TestRevocationGossip: a revocation list installed on one node reaches the others
// (pushed to members, and handed over in the hello to a node that joins later), and
// the revoked member is disconnected and refused everywhere.
func TestRevocationGossip(t *testing.T) {
	acme := newOrg(t, "acme")
	now := time.Now()
	persisted := make(chan []byte, 10)
	mk := func(region string) (*Host, crypto.PrivKey, []byte) {
		k := newKey(t)
		cert := acme.certify(t, k, region, "DE", now.Add(-time.Minute), now.Add(time.Hour))
		o := nodeOpts{key: k, cert: cert, trust: newTrust(t, acme)}
		if region == "b" {
			o.onRevs = func(l []byte) { persisted <- l }
		}
		return newNode(t, o), k, cert
	}
	a, _, _ := mk("a")
	b, _, _ := mk("b")
	c, _, certC := mk("c")
	connect(t, b, a)
	connect(t, c, a)
	connect(t, c, b)
	blk := blocks.NewBlock([]byte("a block c may fetch until it is revoked"))
	if err := a.deps.Blockstore.Put(t.Context(), blk); err != nil {
		t.Fatal(err)
	}
	getCtx, getCancel := context.WithTimeout(t.Context(), 5*time.Second)
	if _, err := c.GetBlock(getCtx, blk.Cid()); err != nil {
		t.Fatalf("member GetBlock before revocation = %v, want the block", err)
	}
	getCancel()
	if err := c.deps.Blockstore.DeleteBlock(t.Context(), blk.Cid()); err != nil {
		t.Fatal(err)
	}

	parsed, err := sovereignty.ParseCertificate(certC)
	if err != nil {
		t.Fatal(err)
	}
	list, err := sovereignty.SignRevocations(acme.key, sovereignty.Revocations{Org: "acme", Version: 1, Serials: []string{parsed.Serial}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.AddRevocations(ctx, list); err != nil {
		t.Fatalf("AddRevocations = %v", err)
	}
	if err := a.AddRevocations(ctx, list); !errors.Is(err, sovereignty.ErrStale) {
		t.Errorf("AddRevocations(same list again) = %v, want ErrStale", err)
	}

	for name, h := range map[string]*Host{"a": a, "b": b} {
		eventually(t, 5*time.Second, name+" refuses the revoked member", func() bool {
			reason, ok := h.Refused(c.ID())
			return ok && errors.Is(reason, sovereignty.ErrRevoked)
		})
		eventually(t, 5*time.Second, name+" disconnected from the revoked member", func() bool {
			return h.Libp2p().Network().Connectedness(c.ID()) != network.Connected
		})
		if _, ok := h.Member(c.ID()); ok {
			t.Errorf("%s.Member(revoked) = member, want not", name)
		}
	}
	select {
	case l := <-persisted:
		if string(l) != string(list) {
			t.Errorf("OnRevocations got %q, want the gossiped list", l)
		}
	default:
		t.Errorf("OnRevocations not called on b after the list reached it")
	}
	if _, ok := a.Member(b.ID()); !ok {
		t.Errorf("a.Member(b) = not a member after revoking c, want member")
	}
	// Reconnecting is the point: wait until c has seen its connection close,
	// or Connect finds it still open.
	eventually(t, 5*time.Second, "the revoked member sees the disconnection", func() bool {
		_, member := c.Member(b.ID())
		return !member && c.Libp2p().Network().Connectedness(b.ID()) != network.Connected
	})
	if err := c.Connect(ctx, b.AddrInfo()); err == nil {
		t.Errorf("revoked node reconnecting = nil, want refusal")
	}
	getCtx, getCancel = context.WithTimeout(t.Context(), 2*time.Second)
	defer getCancel()
	if _, err := c.GetBlock(getCtx, blk.Cid()); err == nil {
		t.Errorf("revoked node GetBlock = block, want nothing")
	}

	// A node joining later gets the list in the hello.
	d, _, _ := mk("d")
	connect(t, d, b)
	_, v := d.deps.Trust.RevocationList(acme.pub())
	eventually(t, 5*time.Second, "late joiner holds the list", func() bool {
		_, v = d.deps.Trust.RevocationList(acme.pub())
		return v == 1
	})
}

// TestExpiryWhileConnected: a member whose certificate expires while connected is
// disconnected by the periodic re-verification.
func TestExpiryWhileConnected(t *testing.T) {
	acme := newOrg(t, "acme")
	a := member(t, acme, "a", "DE", acme)
	k := newKey(t)
	now := time.Now()
	// Certificates have second precision: leave at least two whole seconds.
	exp := now.Add(3 * time.Second)
	b := newNode(t, nodeOpts{key: k, cert: acme.certify(t, k, "b", "DE", now.Add(-time.Minute), exp), trust: newTrust(t, acme)})
	connect(t, b, a)
	eventually(t, 10*time.Second, "expired member refused", func() bool {
		reason, ok := a.Refused(b.ID())
		return ok && errors.Is(reason, sovereignty.ErrExpired)
	})
	if time.Now().Before(exp.Truncate(time.Second)) {
		t.Errorf("refused before the expiry")
	}
}
