package fetch

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// TestSmallDAGManyPeers fetches DAGs of a handful of blocks — fewer
// pieces than peers — from several peers, some of which lack some
// leaves, into stores that may already hold some of them. Every fetch
// must end: with the whole DAG, or with an error naming a block no peer
// has. A hang fails at the per-fetch deadline instead of stalling the
// run.
func TestSmallDAGManyPeers(t *testing.T) {
	cases := []struct {
		name  string
		size  int
		leaf  int
		peers int
		// lack[i] lists the leaf numbers (in DAG order) peer i lacks.
		lack map[int][]int
		// have lists the leaf numbers already in the local store.
		have []int
		// wantErr is part of the error a fetch must end with; "" for
		// success.
		wantErr string
	}{
		{name: "1 block/3 peers", size: 1000, leaf: 256 << 10, peers: 3},
		{name: "1 block/5 peers", size: 200 << 10, leaf: 256 << 10, peers: 5},
		{name: "2 leaves/3 peers", size: 300 << 10, leaf: 256 << 10, peers: 3},
		{name: "512K/3 peers", size: 512 << 10, leaf: 256 << 10, peers: 3},
		// A block larger than the round's piece size (256 KiB for small
		// fetches) is a piece alone, bigger than the "one piece ahead"
		// every peer may run over its share.
		{name: "one 512K leaf/3 peers", size: 512 << 10, leaf: 512 << 10, peers: 3},
		{name: "512K+1000 leaves/3 peers", size: 512<<10 + 1000, leaf: 512 << 10, peers: 3},
		{name: "one 1M leaf/5 peers", size: 1 << 20, leaf: 1 << 20, peers: 5},
		{name: "1M leaves/4 peers", size: 3<<20 + 5, leaf: 1 << 20, peers: 4,
			lack: map[int][]int{0: {1}}, have: []int{2}},
		{name: "512K/5 peers", size: 512 << 10, leaf: 256 << 10, peers: 5},
		{name: "3 leaves/5 peers", size: 700 << 10, leaf: 256 << 10, peers: 5},
		{name: "512K/3 peers/one lacks a leaf", size: 512 << 10, leaf: 256 << 10, peers: 3,
			lack: map[int][]int{0: {0}}},
		{name: "512K/3 peers/two lack a leaf", size: 512 << 10, leaf: 256 << 10, peers: 3,
			lack: map[int][]int{0: {1}, 1: {1}}},
		{name: "3 leaves/4 peers/each lacks one", size: 700 << 10, leaf: 256 << 10, peers: 4,
			lack: map[int][]int{0: {0}, 1: {1}, 2: {2}, 3: {0, 2}}},
		{name: "512K/3 peers/one leaf local", size: 512 << 10, leaf: 256 << 10, peers: 3,
			have: []int{0}},
		{name: "3 leaves/5 peers/two local", size: 700 << 10, leaf: 256 << 10, peers: 5,
			have: []int{0, 2}, lack: map[int][]int{1: {1}}},
		{name: "small leaves/4 peers", size: 512 << 10, leaf: 64 << 10, peers: 4,
			lack: map[int][]int{0: {3, 4, 5}, 2: {0}}},
		{name: "512K/3 peers/nobody has a leaf", size: 512 << 10, leaf: 256 << 10, peers: 3,
			lack: map[int][]int{0: {1}, 1: {1}, 2: {1}}, wantErr: "no live peer has it"},
		{name: "3 leaves/5 peers/nobody has one", size: 700 << 10, leaf: 256 << 10, peers: 5,
			lack: map[int][]int{0: {2}, 1: {2}, 2: {2}, 3: {2}, 4: {2}}, wantErr: "no live peer has it"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := randomBytes(tc.size, uint64(100+i))
			h := newHost(t, "tcp")
			var srcs []*source
			var leaves []cid.Cid
			var root cid.Cid
			var allBlocks []cid.Cid
			for p := range tc.peers {
				st := newStore(t)
				res := importFile(t, st, data, tc.leaf)
				root, allBlocks = res.CID, res.Blocks
				leaves = leaves[:0]
				for _, c := range res.Blocks {
					if c.Type() == cid.Raw {
						leaves = append(leaves, c)
					}
				}
				for _, n := range tc.lack[p] {
					if err := st.DeleteBlock(t.Context(), leaves[n]); err != nil {
						t.Fatal(err)
					}
				}
				s := newSource(t, nil, st, allowAll, "tcp")
				connect(t, h, s.h)
				srcs = append(srcs, s)
			}
			local := newStore(t)
			if len(tc.have) > 0 {
				full := newStore(t)
				importFile(t, full, data, tc.leaf)
				for _, n := range tc.have {
					var b []byte
					if err := full.View(t.Context(), leaves[n], func(d []byte) error {
						b = append([]byte(nil), d...)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					putRaw(t, local, leaves[n], b)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			stats, err := NewClient(h, local).Fetch(ctx, root, ids(srcs...), Options{})
			if ctx.Err() != nil {
				t.Fatalf("Fetch hung: %v (stats %s)", err, statsLine(stats))
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Fetch = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch = %v, want nil (stats %s)", err, statsLine(stats))
			}
			if got := readFile(t, local, root); !bytes.Equal(got, data) {
				t.Fatalf("fetched file: %d bytes differ from the %d imported", len(got), len(data))
			}
			// Blocks already here are never fetched again.
			if want := len(allBlocks) - len(tc.have); stats.Blocks != want {
				t.Errorf("Stats.Blocks = %d, want %d (%d blocks, %d local)", stats.Blocks, want, len(allBlocks), len(tc.have))
			}
		})
	}
}

func statsLine(st Stats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "blocks %d skipped %d;", st.Blocks, st.Skipped)
	for _, p := range st.Peers {
		fmt.Fprintf(&b, " [%s blocks %d dups %d err %q]", p.ID.ShortString(), p.Blocks, p.Dups, p.Err)
	}
	return b.String()
}

func putRaw(t *testing.T, st Blocks, c cid.Cid, data []byte) {
	t.Helper()
	b, err := blocks.NewBlockWithCid(data, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutMany(t.Context(), []blocks.Block{b}); err != nil {
		t.Fatal(err)
	}
}
