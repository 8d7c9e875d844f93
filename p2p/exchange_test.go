package p2p

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	"github.com/ipfs/boxo/bitswap"
	"github.com/ipfs/boxo/bitswap/network/bsnet"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

func TestBitswapBetweenMembers(t *testing.T) {
	acme := newOrg(t, "acme")
	allowed := blocks.NewBlock([]byte("tensor bytes a member may fetch"))
	denied := blocks.NewBlock([]byte("tensor bytes the policy keeps home"))
	var asked []cid.Cid
	k := newKey(t)
	now := time.Now()
	store := memStore()
	for _, b := range []blocks.Block{allowed, denied} {
		if err := store.Put(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	a := newNode(t, nodeOpts{
		key: k, cert: acme.certify(t, k, "eu", "DE", now.Add(-time.Minute), now.Add(time.Hour)),
		trust: newTrust(t, acme), store: store,
		filter: func(m *sovereignty.Member, c cid.Cid) bool {
			asked = append(asked, c)
			return m.Org == "acme" && !c.Equals(denied.Cid())
		},
	})
	b := member(t, acme, "eu", "FR", acme)
	connect(t, b, a)

	tests := []struct {
		name string
		blk  blocks.Block
		ok   bool
	}{{"allowed", allowed, true}, {"denied by filter", denied, false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			got, err := b.GetBlock(ctx, tt.blk.Cid())
			if tt.ok {
				if err != nil {
					t.Fatalf("GetBlock = %v, want the block", err)
				}
				if !bytes.Equal(got.RawData(), tt.blk.RawData()) {
					t.Fatalf("GetBlock data = %q, want %q", got.RawData(), tt.blk.RawData())
				}
				return
			}
			if err == nil {
				t.Fatalf("GetBlock = block, want nothing (filter said no)")
			}
		})
	}
	if len(asked) == 0 {
		t.Errorf("block filter never consulted")
	}
}

// plainHost is a libp2p node that speaks Cairn's bitswap and protocols but never
// presents a certificate: what a stranger who learnt the protocol names would run.
func plainHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func TestStrangerGetsNothing(t *testing.T) {
	acme := newOrg(t, "acme")
	k := newKey(t)
	now := time.Now()
	secret := blocks.NewBlock([]byte("weights no stranger may read"))
	store := memStore()
	if err := store.Put(t.Context(), secret); err != nil {
		t.Fatal(err)
	}
	a := newNode(t, nodeOpts{key: k, cert: acme.certify(t, k, "eu", "DE", now.Add(-time.Minute), now.Add(time.Hour)),
		trust: newTrust(t, acme), store: store})
	const echo protocol.ID = "/cairn/test-echo/1.0.0"
	served := make(chan struct{}, 10)
	a.Handle(echo, func(s network.Stream) {
		served <- struct{}{}
		_, _ = io.Copy(s, s)
		_ = s.Close()
	})

	// The stranger runs bitswap under /cairn and asks for the block.
	x := plainHost(t)
	bs := bitswap.New(t.Context(), bsnet.NewFromIpfsHost(x, bsnet.Prefix(ProtocolPrefix)), nil, memStore())
	t.Cleanup(func() { _ = bs.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	if err := x.Connect(ctx, a.AddrInfo()); err != nil {
		t.Fatalf("plain Connect = %v, want a transport connection", err)
	}
	s, err := x.NewStream(ctx, a.ID(), echo)
	if err == nil {
		_, _ = s.Write([]byte("hello?"))
		_ = s.CloseWrite()
		buf, _ := io.ReadAll(s)
		if len(buf) > 0 {
			t.Errorf("gated protocol answered a stranger: %q", buf)
		}
	}
	bctx, bcancel := context.WithTimeout(ctx, 4*time.Second)
	defer bcancel()
	if b, err := bs.GetBlock(bctx, secret.Cid()); err == nil {
		t.Fatalf("stranger GetBlock = %q, want nothing", b.RawData())
	}
	select {
	case <-served:
		t.Errorf("gated handler ran for a stranger")
	default:
	}
	eventually(t, 6*time.Second, "stranger refused after the hello timeout", func() bool {
		reason, ok := a.Refused(x.ID())
		return ok && reason != nil
	})
	if reason, _ := a.Refused(x.ID()); !errorsIs(reason, ErrHelloTimeout) {
		t.Errorf("Refused reason = %v, want %v", reason, ErrHelloTimeout)
	}

	// A member gets the echo.
	b := member(t, acme, "eu", "FR", acme)
	connect(t, b, a)
	s, err = b.Libp2p().NewStream(ctx, a.ID(), echo)
	if err != nil {
		t.Fatalf("member NewStream = %v", err)
	}
	_, _ = s.Write([]byte("ping"))
	_ = s.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "ping" {
		t.Fatalf("member echo = %q, %v, want \"ping\"", got, err)
	}
}
