package fetch

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/store"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// swarmNode is a node as the daemon wires it: one store, one have
// record shared by its fetch server and client.
type swarmNode struct {
	h     host.Host
	st    *store.Store
	haves *Haves
	srv   *Server
	cl    *Client
}

// newSwarmNode starts a node uploading at most up bytes/s (0: unlimited);
// src, if set, is what its server serves instead of its store.
func newSwarmNode(tb testing.TB, up int64, src Source) *swarmNode {
	tb.Helper()
	n := &swarmNode{h: newHost(tb, "tcp"), st: newStore(tb), haves: NewHaves()}
	if src == nil {
		src = n.st
	}
	var err error
	n.srv, err = NewServer(n.h, src, allowAll, ServerConfig{Haves: n.haves, UploadRate: up})
	if err != nil {
		tb.Fatal(err)
	}
	n.srv.Register()
	n.cl, err = NewClientConfig(n.h, n.st, ClientConfig{Haves: n.haves})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func (n *swarmNode) served() int64 {
	var sum int64
	for _, b := range n.srv.Served() {
		sum += b
	}
	return sum
}

// meshed connects every node to every other.
func meshed(tb testing.TB, nodes []*swarmNode) {
	tb.Helper()
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			connect(tb, a.h, b.h)
		}
	}
}

// fetchAll makes every receiver fetch root from the origin and every
// other receiver at once; each tracks root first, as a node does before
// it answers the catalog as a partial holder. It returns each fetch's
// error and time.
func fetchAll(ctx context.Context, root cid.Cid, origin *swarmNode, recv []*swarmNode) ([]error, []time.Duration) {
	for _, r := range recv {
		r.haves.Track(root)
	}
	errs := make([]error, len(recv))
	took := make([]time.Duration, len(recv))
	var wg sync.WaitGroup
	for i, r := range recv {
		peers := []peer.ID{origin.h.ID()}
		for _, o := range recv {
			if o != r {
				peers = append(peers, o.h.ID())
			}
		}
		wg.Go(func() {
			t0 := time.Now()
			_, errs[i] = r.cl.Fetch(ctx, root, peers, Options{})
			took[i] = time.Since(t0)
		})
	}
	wg.Wait()
	return errs, took
}

// TestSwarm: six nodes fetch a file at once from one origin whose upload
// is capped; they serve each other what they have verified so far. Every
// node ends with every byte, and the origin sent at most two copies.
func TestSwarm(t *testing.T) {
	const size = 8 << 20
	data := randomBytes(size, 21)
	origin := newSwarmNode(t, 4<<20, nil)
	res := importFile(t, origin.st, data, 128<<10)
	var recv []*swarmNode
	for range 6 {
		recv = append(recv, newSwarmNode(t, 0, nil))
	}
	meshed(t, append([]*swarmNode{origin}, recv...))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	errs, _ := fetchAll(ctx, res.CID, origin, recv)
	for i, r := range recv {
		if errs[i] != nil {
			t.Fatalf("receiver %d: %v", i, errs[i])
		}
		if got := readFile(t, r.st, res.CID); !bytes.Equal(got, data) {
			t.Fatalf("receiver %d: file differs", i)
		}
	}
	copies := float64(origin.served()) / size
	var fromPeers int64
	for _, r := range recv {
		fromPeers += r.served()
	}
	t.Logf("origin sent %.2f copies; receivers sent each other %.2f copies", copies, float64(fromPeers)/size)
	if copies > 2 {
		t.Errorf("origin sent %.2f copies, want at most 2", copies)
	}
}
