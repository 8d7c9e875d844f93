package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/gossip"
	"github.com/cairnhub/cairn/sovereignty"
)

// chainAdd creates, joins and starts a node bootstrapped to prev alone
// (nil: to nobody), with a certificate of org under serial.
func (c *testCluster) chainAdd(name string, prev *testNode, org ed25519Key, serial string, roles ...string) *testNode {
	c.t.Helper()
	dir := filepath.Join(c.t.TempDir(), name)
	if _, err := home.Init(dir); err != nil {
		c.t.Fatal(err)
	}
	tn := &testNode{name: name, home: dir, juris: "DE"}
	c.t.Cleanup(tn.stop)
	n, err := LoadHome(dir)
	if err != nil {
		c.t.Fatal(err)
	}
	cert := issueFor(c.t, org.priv, n.ID, serial, roles...)
	if _, err := n.Join(cert, org.pub); err != nil {
		c.t.Fatal(err)
	}
	if n, err = Open(c.ctx, dir); err != nil {
		c.t.Fatal(err)
	}
	n.Config.Replication = c.cfg
	var boot []string
	if prev != nil {
		boot = []string{prev.d.Host.Addrs()[0].String()}
	}
	logger := quietLog
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
	}
	d, err := n.StartDaemon(c.ctx, DaemonOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot, HTTPAddr: "127.0.0.1:0", Logger: logger, MaxPeers: 6})
	if err != nil {
		n.Close()
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	tn.n, tn.d, tn.r, tn.cancel, tn.done, tn.peer = n, d, d.Replicator, cancel, make(chan struct{}), n.ID.String()
	go func() { d.Run(ctx); close(tn.done) }()
	c.nodes = append(c.nodes, tn)
	return tn
}

type ed25519Key struct {
	priv ed25519.PrivateKey
	pub  string
}

func issueFor(t *testing.T, org ed25519.PrivateKey, id peer.ID, serial string, roles ...string) []byte {
	t.Helper()
	cert, err := sovereignty.Issue(org, sovereignty.Certificate{Org: "acme", PeerID: id.String(), Region: "r-de",
		Jurisdiction: "DE", Roles: roles, Serial: serial, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func newOrg(t *testing.T) ed25519Key {
	t.Helper()
	k, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	return ed25519Key{priv: k, pub: sovereignty.FormatOrgPublicKey(sovereignty.OrgPublicKey(k))}
}

func policyVersion(tn *testNode) uint64 {
	if p := tn.d.Engine.Policy(); p != nil {
		return p.Version
	}
	return 0
}

const openPolicy = "repos:\n  - match: '*'\n    hold: [DE]\n    receive: [DE]\n    prompts: [DE]\n"

// A chain of daemons, each bootstrapped to the one before it: a policy, a
// pin intent and a revocation list published on the first reach the last
// over gossip; a forged policy, an old version and a non-member's policy
// are not put in force; a node that joins late catches up; a node whose
// certificate was revoked is admitted again at once with a renewed one.
func TestGossipControlPlane(t *testing.T) {
	c := newTestCluster(t, fastReplication)
	acme := ed25519Key{priv: c.org, pub: c.pub}
	a := c.chainAdd("a", nil, acme, "a1", "mirror")
	b := c.chainAdd("b", a, acme, "b1", "mirror")
	cc := c.chainAdd("c", b, acme, "c1", "mirror")
	for _, tn := range []*testNode{a, b, cc} {
		if err := tn.d.Gossip.WaitPeers(c.ctx, gossip.KindPolicy, 1); err != nil {
			t.Fatal(err)
		}
	}

	// A policy of the organisation set on a is in force on c.
	signed, err := sovereignty.SignPolicy(c.org, []byte(openPolicy), 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.d.SetPolicy(c.ctx, signed); err != nil {
		t.Fatal(err)
	}
	c.eventually(10*time.Second, "policy v2 on c", func() (bool, string) { return policyVersion(cc) == 2, "c has " + itoa(policyVersion(cc)) })

	// An older version and a policy signed by another organisation are
	// refused before they are published, and nothing changes on c.
	old, _ := sovereignty.SignPolicy(c.org, []byte(openPolicy), 1)
	if err := a.d.Gossip.PublishPolicy(c.ctx, old); !errors.Is(err, gossip.ErrStale) && !errors.Is(err, sovereignty.ErrStale) {
		t.Fatalf("old policy published: %v", err)
	}
	other := newOrg(t)
	forged, _ := sovereignty.SignPolicy(other.priv, []byte(openPolicy), 9)
	if err := a.d.Gossip.PublishPolicy(c.ctx, forged); err == nil {
		t.Fatal("a policy of an untrusted organisation was published")
	}

	// A daemon of another organisation, bootstrapped to a, is refused: its
	// policy (valid for its own organisation) never reaches a.
	x := c.chainAdd("x", a, other, "x1", "mirror")
	if _, err := x.d.SetPolicy(c.ctx, forged); err != nil {
		t.Fatal(err)
	}
	c.eventually(10*time.Second, "x refused by a", func() (bool, string) {
		_, refused := a.d.Host.Refused(x.d.Host.ID())
		return refused, "not refused yet"
	})
	if v := policyVersion(a); v != 2 {
		t.Fatalf("a's policy version %d after a non-member's policy", v)
	}
	x.stop()
	c.nodes = c.nodes[:3]

	// A pin intent recorded on a reaches c.
	addRepo(t, a.n, "acme/model", 1<<10)
	in, err := a.d.Replicator.Pin(c.ctx, manifest.Model, "acme/model", "main", 2)
	if err != nil {
		t.Fatal(err)
	}
	c.eventually(10*time.Second, "intent on c", func() (bool, string) {
		for _, i := range cc.d.Replicator.Intents() {
			if i.Key() == in.Key() {
				return true, ""
			}
		}
		return false, "c lacks the intent"
	})

	// A node joining late, bootstrapped to c alone, catches up.
	late := c.chainAdd("late", cc, acme, "l1", "edge")
	c.eventually(15*time.Second, "late node caught up", func() (bool, string) {
		got := false
		for _, i := range late.d.Replicator.Intents() {
			got = got || i.Key() == in.Key()
		}
		return policyVersion(late) == 2 && got, "policy v" + itoa(policyVersion(late))
	})

	// Revoking c on a disconnects it from b, two hops away.
	list, err := sovereignty.SignRevocations(c.org, sovereignty.Revocations{Org: "acme", Version: 1, Serials: []string{"c1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.d.AddRevocations(c.ctx, list); err != nil {
		t.Fatal(err)
	}
	cid := cc.d.Host.ID()
	c.eventually(10*time.Second, "c disconnected by b", func() (bool, string) {
		_, member := b.d.Host.Member(cid)
		return !member, "b still has c as a member"
	})

	// c renews its certificate on the running daemon: b admits it at once.
	renewed := issueFor(t, c.org, cc.d.Host.ID(), "c2", "mirror")
	if err := cc.d.Renew(c.ctx, renewed); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	var lastErr error
	for ctx.Err() == nil {
		if lastErr = cc.d.Host.Connect(ctx, b.d.Host.AddrInfo()); lastErr == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("renewed c not admitted by b: %v", lastErr)
	}
	// Connect returns once c admitted b; b admits c when its own side
	// of the hello has verified c's certificate, which may come later.
	c.eventually(20*time.Second, "b lists the renewed c as a member", func() (bool, string) {
		_, member := b.d.Host.Member(cid)
		return member, "b does not list c"
	})
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
