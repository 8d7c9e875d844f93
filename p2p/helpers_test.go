package p2p

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// org is a test organisation: its signing key and helpers to certify nodes.
type org struct {
	name string
	key  ed25519.PrivateKey
}

func newOrg(t *testing.T, name string) *org {
	t.Helper()
	k, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	return &org{name: name, key: k}
}

func (o *org) pub() ed25519.PublicKey { return sovereignty.OrgPublicKey(o.key) }

// certify issues a certificate for the peer of key, valid from nb to exp.
func (o *org) certify(t *testing.T, key crypto.PrivKey, region, cc string, nb, exp time.Time) []byte {
	t.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sovereignty.Issue(o.key, sovereignty.Certificate{
		Org: o.name, PeerID: id.String(), Region: region, Jurisdiction: cc,
		Roles: []string{"mirror"}, NotBefore: nb, Expires: exp,
	})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return b
}

func newKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTrust(t *testing.T, orgs ...*org) *sovereignty.Trust {
	t.Helper()
	var keys []ed25519.PublicKey
	for _, o := range orgs {
		keys = append(keys, o.pub())
	}
	tr, err := sovereignty.NewTrust(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func memStore() blockstore.Blockstore {
	return blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
}

// nodeOpts tunes newNode; zero fields get test defaults.
type nodeOpts struct {
	key     crypto.PrivKey
	cert    []byte
	trust   *sovereignty.Trust
	filter  BlockFilter
	store   blockstore.Blockstore
	psk     []byte
	tcpOnly bool
	roots   func(context.Context) ([]cid.Cid, error)
	onRevs  func([]byte)
	options []libp2p.Option
}

// testConfig is a Config for loopback tests with short timers.
func testConfig(key crypto.PrivKey) Config {
	return Config{
		Key:          key,
		Listen:       []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		DHTMode:      DHTServer,
		HelloTimeout: 3 * time.Second,
		RefuseFor:    time.Minute,
		PingInterval: 200 * time.Millisecond,
	}
}

// newNode starts a host on 127.0.0.1 with its own trust set, runs it, and closes it
// when the test ends.
func newNode(t *testing.T, o nodeOpts) *Host {
	t.Helper()
	if o.key == nil {
		o.key = newKey(t)
	}
	if o.store == nil {
		o.store = memStore()
	}
	cfg := testConfig(o.key)
	if o.psk != nil || o.tcpOnly {
		cfg.Listen = cfg.Listen[:1]
		cfg.PSK = o.psk
	}
	return startNode(t, cfg, o)
}

// startNode starts a host with cfg and o's dependencies, runs it, and closes it when
// the test ends.
func startNode(t *testing.T, cfg Config, o nodeOpts) *Host {
	t.Helper()
	if o.store == nil {
		o.store = memStore()
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := New(t.Context(), cfg, Deps{
		Trust: o.trust, Certificate: o.cert, Blockstore: o.store, BlockFilter: o.filter, Logger: log, Roots: o.roots, OnRevocations: o.onRevs,
		Options: o.options,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := h.Close(); err != nil {
			t.Logf("Close: %v", err)
		}
	})
	return h
}

// member starts a host certified by o (valid for an hour) that trusts the given orgs.
func member(t *testing.T, o *org, region, cc string, trusts ...*org) *Host {
	t.Helper()
	k := newKey(t)
	now := time.Now()
	return newNode(t, nodeOpts{key: k, cert: o.certify(t, k, region, cc, now.Add(-time.Minute), now.Add(time.Hour)), trust: newTrust(t, trusts...)})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// eventually polls cond every 20ms until it holds or ctx (bounded by d) ends.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not true after %v", what, d)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func connect(t *testing.T, a, b *Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, b.AddrInfo()); err != nil {
		t.Fatalf("%s.Connect(%s) = %v, want nil", a.ID().ShortString(), b.ID().ShortString(), err)
	}
	// The dialled side admits the dialler before answering; wait for the other side too.
	eventually(t, 5*time.Second, "both sides see membership", func() bool {
		_, ok := b.Member(a.ID())
		return ok
	})
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}

func newOrgB(b *testing.B, name string) *org {
	k, err := sovereignty.GenerateOrgKey()
	if err != nil {
		b.Fatal(err)
	}
	return &org{name: name, key: k}
}

// benchNode starts a member host for benchmarks (no Run loop); the caller or b.Cleanup
// closes it.
func benchNode(b *testing.B, o *org, opts nodeOpts) *Host {
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		b.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	now := time.Now()
	cert, err := sovereignty.Issue(o.key, sovereignty.Certificate{Org: o.name, PeerID: id.String(), Region: "bench",
		Jurisdiction: "DE", Roles: []string{"mirror"}, NotBefore: now.Add(-time.Minute), Expires: now.Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	trust, err := sovereignty.NewTrust(o.pub())
	if err != nil {
		b.Fatal(err)
	}
	if opts.store == nil {
		opts.store = memStore()
	}
	h, err := New(context.Background(), testConfig(k), Deps{Trust: trust, Certificate: cert, Blockstore: opts.store,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close() })
	return h
}
