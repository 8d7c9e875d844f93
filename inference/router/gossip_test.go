package router

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/internal/testnet"
	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/gossip"
	"github.com/cairnhub/cairn/p2p/infer"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// chainNode is a member on a real libp2p host on 127.0.0.1 with a real
// store and the control plane, dialling only the peers it is given.
type chainNode struct {
	host   *p2p.Host
	self   *sovereignty.Member
	store  *store.Store
	gossip *gossip.Gossip
}

// newChainNode starts a member of org. Its DHT is in client mode, as on
// every node of the chain: no node answers DHT queries, so a node learns
// no peer through the DHT, and A–B–C stays a chain.
func newChainNode(t *testing.T, org ed25519.PrivateKey, boot ...*chainNode) *chainNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	cert, err := sovereignty.Issue(org, sovereignty.Certificate{Org: "acme", PeerID: id.String(), Region: "eu",
		Jurisdiction: "DE", Roles: []string{"mirror"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	trust, err := sovereignty.NewTrust(sovereignty.OrgPublicKey(org))
	if err != nil {
		t.Fatal(err)
	}
	n := &chainNode{}
	if n.self, err = trust.VerifyBytes(cert, id.String(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if n.store, err = store.Open(store.Options{Dir: filepath.Join(t.TempDir(), "store")}); err != nil {
		t.Fatal(err)
	}
	var bootAddrs []string
	for _, b := range boot {
		bootAddrs = append(bootAddrs, b.host.Addrs()[0].String())
	}
	n.host, err = p2p.New(ctx, p2p.Config{Key: key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: bootAddrs, DHTMode: p2p.DHTClient},
		p2p.Deps{Trust: trust, Certificate: cert, Blockstore: n.store, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	n.gossip, err = gossip.New(ctx, n.host.Libp2p(), gossip.Config{}, gossip.Deps{Members: n.host, Verifier: trust,
		Documents: gossip.TrustDocuments{Trust: trust}, Certificate: cert, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.host.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		n.gossip.Close()
		n.host.Close()
		n.store.Close()
	})
	return n
}

// runRouter starts n's router (its Run publishes n's advert on gossip
// until the test ends).
func runRouter(t *testing.T, n *chainNode, local Local) *Router {
	t.Helper()
	p, err := sovereignty.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Logger: quiet, AdvertCheck: 100 * time.Millisecond, AdvertRefresh: 500 * time.Millisecond, HeardTTL: 5 * time.Second}
	rt, err := New(cfg, Deps{ID: n.host.ID(), Self: n.self, Policy: p, Store: n.store, Members: n.host, Gossip: n.gossip, Local: local})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rt.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return rt
}

// A chain A–B–C where only C serves the model and A is not connected to
// C: once C's gossiped advert reached A through B, a request on A is
// forwarded to C, which A dialled for it.
func TestForwardToServerHeardByGossip(t *testing.T) {
	org, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	b := newChainNode(t, org)
	a := newChainNode(t, org, b)
	c := newChainNode(t, org, b)

	if _, err := ingest.Add(t.Context(), c.store, fixture.Path(t, fixture.Model), ingest.AddOptions{Repo: "acme/stories"}); err != nil {
		t.Fatal(err)
	}
	srv, err := openai.NewServer(models.New(c.store, filepath.Join(t.TempDir(), "models"), nil, quiet), openai.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	runRouter(t, c, srv)
	ra := runRouter(t, a, nil)

	testnet.Eventually(t, testnet.WaitTimeout, "C's advert at A", func() (bool, string) {
		ad, ok := a.gossip.RecentAdverts(time.Minute)[c.host.ID()]
		return ok && slices.Contains(ad.Models, "acme/stories@main"), "A heard of C's models: " + strings.Join(ad.Models, ", ")
	})
	if _, ok := a.host.Member(c.host.ID()); ok {
		t.Fatal("A is connected to C before the request: not a chain")
	}
	if _, ok := a.host.Member(b.host.ID()); !ok {
		t.Fatal("A is not connected to B")
	}

	hs := httptest.NewServer(ra)
	t.Cleanup(hs.Close)
	status, hdr, body := do(t, "POST", hs.URL+"/v1/completions", "", strings.Replace(completion, "%q", `"acme/stories"`, 1))
	if status != http.StatusOK || hdr.Get(HeaderRoute) != "forwarded" || hdr.Get(HeaderServedBy) != c.host.ID().String() || !strings.Contains(body, `"text"`) {
		t.Fatalf("request on A: %d route %q by %q %s, want 200 forwarded by C (%s)", status, hdr.Get(HeaderRoute), hdr.Get(HeaderServedBy), body, c.host.ID())
	}
	if _, ok := a.host.Member(c.host.ID()); !ok {
		t.Error("A served by C without being connected to it")
	}
}

// The gossiped advert names every served revision (or file, when a
// revision has several) and stays within gossip's advert limit however
// many models the node holds; a name stands for the ids that run it.
func TestAdvertNames(t *testing.T) {
	if got := advertNames(infer.Advert{Serving: false, Models: []infer.ModelAd{{Repo: "acme/a", Rev: "main"}}}); len(got) != 0 {
		t.Errorf("not serving: %v, want no names", got)
	}
	ad := infer.Advert{Serving: true, Models: []infer.ModelAd{{Repo: "acme/b", Rev: "v1", Files: []string{"q4.gguf", "q8.gguf"}}, {Repo: "acme/a", Rev: "main"}}}
	if got, want := advertNames(ad), []string{"acme/a@main", "acme/b@v1/q4.gguf", "acme/b@v1/q8.gguf"}; !slices.Equal(got, want) {
		t.Errorf("names %v, want %v", got, want)
	}
	for i := range 1000 {
		ad.Models = append(ad.Models, infer.ModelAd{Repo: "acme/" + strings.Repeat("x", 200) + strconv.Itoa(i), Rev: "main"})
	}
	names := advertNames(ad)
	addrs := make([][]byte, maxAdvertAddrs)
	for i := range addrs {
		addrs[i] = make([]byte, 64)
	}
	b, err := gossip.EncodeAdvert(gossip.Advert{Seq: 1, Models: names, Addrs: addrs})
	if err != nil || len(b)+gossip.MaxCertificate+64 > gossip.DefaultMaxAdvert {
		t.Errorf("advert of %d names: %d bytes, %v: want within %d with a certificate", len(names), len(b), err, gossip.DefaultMaxAdvert)
	}
	for id, want := range map[string]bool{"acme/a": true, "acme/a@main": true, "acme/a/m.gguf": true, "acme/a@v2": false, "acme/b@v1/q4.gguf": true, "acme/b@v1": false} {
		mid, err := models.ParseID(id)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.ContainsFunc(advertNames(ad)[:3], func(n string) bool { return servesName(n, mid) })
		if got != want {
			t.Errorf("%s served: %v, want %v", id, got, want)
		}
	}
}
