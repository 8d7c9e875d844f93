package p2p

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	"github.com/ipfs/boxo/bitswap"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ipfsNode is a plain libp2p host with boxo bitswap on the standard /ipfs/bitswap
// protocols and no certificate: what a Kubo node looks like on the wire.
type ipfsNode struct {
	host.Host
	bs    *bitswap.Bitswap
	store blockstore.Blockstore
}

func newIPFSNode(t *testing.T) *ipfsNode {
	t.Helper()
	x := plainHost(t)
	st := memStore()
	bs := bitswap.New(t.Context(), bsnet.NewFromIpfsHost(x), nil, st)
	t.Cleanup(func() { _ = bs.Close() })
	return &ipfsNode{Host: x, bs: bs, store: st}
}

// filterLog records what the BlockFilter was asked.
type filterLog struct {
	mu    sync.Mutex
	asked []sovereignty.Member
}

func (f *filterLog) members() []sovereignty.Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sovereignty.Member(nil), f.asked...)
}

func TestInteropPeerFetchesOverStandardBitswap(t *testing.T) {
	acme := newOrg(t, "acme")
	public := blocks.NewBlock([]byte("a config.json any allowed IPFS node may read"))
	homeOnly := blocks.NewBlock([]byte("weights the residency policy keeps in DE"))
	store := memStore()
	for _, b := range []blocks.Block{public, homeOnly} {
		if err := store.Put(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	var log filterLog
	filter := func(m *sovereignty.Member, c cid.Cid) bool {
		log.mu.Lock()
		log.asked = append(log.asked, *m)
		log.mu.Unlock()
		// A residency rule: homeOnly goes to DE only.
		return !c.Equals(homeOnly.Cid()) || m.Jurisdiction == "DE"
	}

	kubo := newIPFSNode(t)
	outsider := newIPFSNode(t)
	fromKubo := blocks.NewBlock([]byte("a block only the IPFS node holds"))
	if err := kubo.store.Put(t.Context(), fromKubo); err != nil {
		t.Fatal(err)
	}

	k := newKey(t)
	now := time.Now()
	cfg := testConfig(k)
	cfg.Listen = cfg.Listen[:1] // Kubo-like peers dial TCP
	cfg.HelloTimeout = time.Second
	cfg.InteropPeers = []peer.ID{kubo.ID()}
	cfg.InteropJurisdiction = "FR"
	a := startNode(t, cfg, nodeOpts{
		key: k, cert: acme.certify(t, k, "eu", "DE", now.Add(-time.Minute), now.Add(time.Hour)),
		trust: newTrust(t, acme), store: store, filter: filter,
	})
	if a.InteropExchange() == nil {
		t.Fatal("InteropExchange() = nil, want a bitswap for the interop peers")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, x := range []*ipfsNode{kubo, outsider} {
		if err := x.Connect(ctx, a.AddrInfo()); err != nil {
			t.Fatalf("plain Connect = %v, want a transport connection", err)
		}
	}

	t.Run("allowed block", func(t *testing.T) {
		bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
		defer bcancel()
		got, err := kubo.bs.GetBlock(bctx, public.Cid())
		if err != nil {
			t.Fatalf("interop GetBlock = %v, want the block", err)
		}
		if !bytes.Equal(got.RawData(), public.RawData()) {
			t.Fatalf("interop GetBlock data = %q, want %q", got.RawData(), public.RawData())
		}
		asked := log.members()
		if len(asked) == 0 {
			t.Fatal("BlockFilter never consulted for the interop peer")
		}
		if m := asked[0]; m.Jurisdiction != "FR" || m.Org != InteropOrg || m.PeerID != kubo.ID().String() {
			t.Errorf("BlockFilter member = %+v, want jurisdiction FR, org %q, peer %s", m, InteropOrg, kubo.ID())
		}
	})
	t.Run("policy still applies", func(t *testing.T) {
		bctx, bcancel := context.WithTimeout(ctx, 3*time.Second)
		defer bcancel()
		if b, err := kubo.bs.GetBlock(bctx, homeOnly.Cid()); err == nil {
			t.Fatalf("interop GetBlock(DE-only block) = %q, want nothing for jurisdiction FR", b.RawData())
		}
	})
	t.Run("outsider refused", func(t *testing.T) {
		bctx, bcancel := context.WithTimeout(ctx, 3*time.Second)
		defer bcancel()
		if b, err := outsider.bs.GetBlock(bctx, public.Cid()); err == nil {
			t.Fatalf("outsider GetBlock = %q, want nothing", b.RawData())
		}
		eventually(t, 5*time.Second, "outsider refused after the hello timeout", func() bool {
			_, ok := a.Refused(outsider.ID())
			return ok
		})
		// The interop peer passed the same deadline and stays.
		if reason, ok := a.Refused(kubo.ID()); ok {
			t.Errorf("interop peer refused: %v", reason)
		}
		if got := a.InteropPeers(); len(got) != 1 || got[0] != kubo.ID() {
			t.Errorf("InteropPeers() = %v, want [%s]", got, kubo.ID())
		}
	})
	t.Run("no Cairn protocol", func(t *testing.T) {
		s, err := kubo.NewStream(ctx, a.ID(), ProtocolRevocations)
		if err == nil {
			_ = s.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = s.Write([]byte{0})
			buf, _ := io.ReadAll(s)
			if len(buf) > 0 {
				t.Errorf("gated protocol answered an interop peer: %q", buf)
			}
		}
		if _, ok := a.Member(kubo.ID()); ok {
			t.Errorf("Member(interop peer) = true, want false")
		}
		if _, err := a.Libp2p().NewStream(ctx, kubo.ID(), ProtocolRevocations); !errors.Is(err, ErrNotMember) {
			t.Errorf("gated NewStream to interop peer = %v, want %v", err, ErrNotMember)
		}
	})
	t.Run("Cairn fetches from the IPFS node", func(t *testing.T) {
		bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
		defer bcancel()
		got, err := a.InteropGetBlock(bctx, fromKubo.Cid())
		if err != nil {
			t.Fatalf("InteropGetBlock = %v, want the block", err)
		}
		if !bytes.Equal(got.RawData(), fromKubo.RawData()) {
			t.Fatalf("InteropGetBlock data = %q, want %q", got.RawData(), fromKubo.RawData())
		}
		if err := a.ConnectInterop(ctx, outsider.Peerstore().PeerInfo(outsider.ID())); !errors.Is(err, ErrNotInterop) {
			t.Errorf("ConnectInterop(outsider) = %v, want %v", err, ErrNotInterop)
		}
	})
	if c := a.Libp2p().Network().Connectedness(kubo.ID()); c != network.Connected {
		t.Errorf("Connectedness(interop peer) = %v at the end, want %v", c, network.Connected)
	}
}

// A member never reaches the standard-protocol bitswap: it is for interop peers only.
func TestInteropBitswapIgnoresMembers(t *testing.T) {
	acme := newOrg(t, "acme")
	blk := blocks.NewBlock([]byte("served to members over /cairn bitswap only"))
	store := memStore()
	if err := store.Put(t.Context(), blk); err != nil {
		t.Fatal(err)
	}
	k := newKey(t)
	now := time.Now()
	cfg := testConfig(k)
	cfg.InteropPeers = []peer.ID{newIPFSNode(t).ID()}
	cfg.InteropJurisdiction = "DE"
	a := startNode(t, cfg, nodeOpts{
		key: k, cert: acme.certify(t, k, "eu", "DE", now.Add(-time.Minute), now.Add(time.Hour)),
		trust: newTrust(t, acme), store: store,
	})
	b := member(t, acme, "eu", "DE", acme)
	connect(t, b, a)
	// b asks on the standard protocols, as an IPFS node would.
	bs := bitswap.New(t.Context(), bsnet.NewFromIpfsHost(b.raw), nil, memStore())
	t.Cleanup(func() { _ = bs.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if got, err := bs.GetBlock(ctx, blk.Cid()); err == nil {
		t.Errorf("member GetBlock on /ipfs/bitswap = %q, want nothing (interop peers only)", got.RawData())
	}
	if got, err := b.GetBlock(t.Context(), blk.Cid()); err != nil || !bytes.Equal(got.RawData(), blk.RawData()) {
		t.Errorf("member GetBlock on /cairn bitswap = %v, want the block", err)
	}
	if _, ok := a.Member(b.ID()); !ok {
		t.Errorf("member lost its membership")
	}
}

func TestInteropConfigValidate(t *testing.T) {
	k := newKey(t)
	id, _ := peer.IDFromPrivateKey(newKey(t))
	tests := []struct {
		name  string
		peers []peer.ID
		cc    string
		ok    bool
	}{
		{"none", nil, "", true},
		{"peer and jurisdiction", []peer.ID{id}, "FR", true},
		{"peer without jurisdiction", []peer.ID{id}, "", false},
		{"bad jurisdiction", []peer.ID{id}, "XX", false},
		{"empty peer ID", []peer.ID{""}, "FR", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Key: k, InteropPeers: tt.peers, InteropJurisdiction: tt.cc}
			if err := cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
