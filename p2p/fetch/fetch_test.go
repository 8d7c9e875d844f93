package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/store"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

const testLeaf = 64 << 10

// seeded returns n sources each holding the file data.
func seeded(t *testing.T, n int, data []byte) ([]*source, chunker.FileResult) {
	t.Helper()
	var res chunker.FileResult
	var out []*source
	for range n {
		st := newStore(t)
		res = importFile(t, st, data, testLeaf)
		out = append(out, newSource(t, nil, st, allowAll))
	}
	return out, res
}

func ids(srcs ...*source) []peer.ID {
	var out []peer.ID
	for _, s := range srcs {
		out = append(out, s.h.ID())
	}
	return out
}

func TestFetchFromTwoPeers(t *testing.T) {
	data := randomBytes(3<<20+12345, 1)
	srcs, res := seeded(t, 2, data)
	h := newHost(t)
	for _, s := range srcs {
		connect(t, h, s.h)
	}
	st := newStore(t)
	var progressCalls int
	stats, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(srcs...), Options{
		Progress: func(Progress) { progressCalls++ },
	})
	if err != nil {
		t.Fatalf("Fetch = %v, want nil", err)
	}
	if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
		t.Fatalf("fetched file differs: %d bytes, want %d", len(got), len(data))
	}
	if stats.Blocks != len(res.Blocks) {
		t.Errorf("Stats.Blocks = %d, want %d", stats.Blocks, len(res.Blocks))
	}
	for _, p := range stats.Peers {
		if p.Bytes == 0 || p.Err != "" {
			t.Errorf("peer %s: bytes %d, err %q; want both peers serving", p.ID, p.Bytes, p.Err)
		}
	}
	if progressCalls == 0 {
		t.Errorf("Progress called %d times, want at least once", progressCalls)
	}
	// Everything is here now: a second fetch moves nothing.
	again, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(srcs...), Options{})
	if err != nil || again.Blocks != 0 || again.Skipped != len(res.Blocks) {
		t.Errorf("second Fetch = %+v, %v; want 0 blocks, %d skipped", again, err, len(res.Blocks))
	}
}

func TestFetchTransports(t *testing.T) {
	data := randomBytes(1<<20, 2)
	for _, tr := range []string{"tcp", "quic"} {
		t.Run(tr, func(t *testing.T) {
			st0 := newStore(t)
			res := importFile(t, st0, data, testLeaf)
			src := newSource(t, nil, st0, allowAll, tr)
			h := newHost(t, tr)
			connect(t, h, src.h)
			st := newStore(t)
			if _, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(src), Options{Transport: tr}); err != nil {
				t.Fatalf("Fetch over %s = %v", tr, err)
			}
			if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
				t.Fatalf("fetched file over %s differs", tr)
			}
		})
	}
}

func TestCorruptPeerRoutedAround(t *testing.T) {
	data := randomBytes(2<<20, 3)
	badSt := newStore(t)
	res := importFile(t, badSt, data, testLeaf)
	bad := newSource(t, corrupt{badSt}, badSt, allowAll)
	goodSt := newStore(t)
	importFile(t, goodSt, data, testLeaf)
	good := newSource(t, nil, goodSt, allowAll)

	h := newHost(t)
	connect(t, h, bad.h)
	connect(t, h, good.h)
	st := newStore(t)
	stats, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(bad, good), Options{})
	if err != nil {
		t.Fatalf("Fetch = %v, want nil", err)
	}
	if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}
	if p := stats.Peers[0]; !strings.Contains(p.Err, "bad block") || p.Errors == 0 {
		t.Errorf("corrupt peer stats = %+v, want dropped for a bad block", p)
	}
	if p := stats.Peers[1]; p.Err != "" || p.Bytes == 0 {
		t.Errorf("good peer stats = %+v, want it serving", p)
	}

	// Alone, the corrupt peer gets the fetch refused, and nothing bad is stored.
	st2 := newStore(t)
	_, err = NewClient(h, st2).Fetch(t.Context(), res.CID, ids(bad), Options{})
	if err == nil {
		t.Fatal("Fetch from the corrupt peer alone = nil, want error")
	}
	for _, c := range res.Blocks {
		if c.Type() != cid.Raw {
			continue
		}
		if ok, _ := st2.Has(t.Context(), c); ok {
			t.Fatalf("leaf %s from the corrupt peer was stored", c)
		}
	}
}

func TestSourceKilledMidFetch(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node fault test; skipped with -short")
	}
	data := randomBytes(8<<20, 4)
	var srcs []*source
	var res chunker.FileResult
	var victim *source
	var once sync.Once
	for i := range 3 {
		st := newStore(t)
		res = importFile(t, st, data, testLeaf)
		var src Source = st
		if i == 0 {
			// The victim dies after it started serving leaves.
			src = &hook{st: st, n: 4, fn: func() {
				once.Do(func() { go victim.h.Close() })
			}}
		}
		s := newSource(t, src, st, allowAll)
		if i == 0 {
			victim = s
		}
		srcs = append(srcs, s)
	}
	h := newHost(t)
	for _, s := range srcs {
		connect(t, h, s.h)
	}
	st := newStore(t)
	stats, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(srcs...), Options{StallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Fetch = %v, want nil", err)
	}
	if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}
	if p := stats.Peers[0]; p.Err == "" {
		t.Errorf("killed peer stats = %+v, want an error", p)
	}
}

// cancelAfter is a store that cancels a context once n blocks were put.
type cancelAfter struct {
	*store.Store
	n      int
	put    int
	mu     sync.Mutex
	cancel context.CancelFunc
}

func (c *cancelAfter) PutMany(ctx context.Context, bs []blocks.Block) error {
	err := c.Store.PutMany(ctx, bs)
	c.mu.Lock()
	c.put += len(bs)
	if c.put >= c.n {
		c.cancel()
	}
	c.mu.Unlock()
	return err
}

func TestInterruptedFetchResumes(t *testing.T) {
	data := randomBytes(4<<20, 5)
	srcs, res := seeded(t, 2, data)
	h := newHost(t)
	for _, s := range srcs {
		connect(t, h, s.h)
	}
	st := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stop := &cancelAfter{Store: st, n: len(res.Blocks) / 3, cancel: cancel}
	first, err := NewClient(h, stop).Fetch(ctx, res.CID, ids(srcs...), Options{WriteBatch: testLeaf})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Fetch = %v, want context.Canceled", err)
	}
	have := 0
	for _, c := range res.Blocks {
		if ok, _ := st.Has(t.Context(), c); ok {
			have++
		}
	}
	if have == 0 || have == len(res.Blocks) {
		t.Fatalf("after interruption %d of %d blocks stored, want some", have, len(res.Blocks))
	}
	if first.Blocks != have {
		t.Errorf("interrupted Stats.Blocks = %d, want %d (the blocks stored)", first.Blocks, have)
	}
	second, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(srcs...), Options{})
	if err != nil {
		t.Fatalf("resumed Fetch = %v", err)
	}
	if second.Blocks != len(res.Blocks)-have || second.Skipped != have {
		t.Errorf("resumed Fetch moved %d blocks, skipped %d; want %d and %d",
			second.Blocks, second.Skipped, len(res.Blocks)-have, have)
	}
	if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
		t.Fatal("resumed file differs")
	}
}

func TestGateRefusal(t *testing.T) {
	data := randomBytes(512<<10, 6)
	st0 := newStore(t)
	res := importFile(t, st0, data, testLeaf)
	refuse := func(peer.ID, cid.Cid) error { return errors.New("policy: jurisdiction FR not allowed") }
	src := newSource(t, nil, st0, refuse)
	h := newHost(t)
	connect(t, h, src.h)
	st := newStore(t)
	stats, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(src), Options{})
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Msg != "policy: jurisdiction FR not allowed" || refused.Peer != src.h.ID() {
		t.Fatalf("Fetch = %v, want a RefusedError with the gate's reason", err)
	}
	if p := stats.Peers[0]; !strings.Contains(p.Err, "refused") {
		t.Errorf("peer stats = %+v, want refused", p)
	}
	if ok, _ := st.Has(t.Context(), res.CID); ok {
		t.Error("root stored despite refusal")
	}

	// A server without a gate refuses too.
	open := newSource(t, nil, st0, nil)
	connect(t, h, open.h)
	if _, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(open), Options{}); err == nil || !strings.Contains(err.Error(), "no gate") {
		t.Fatalf("Fetch from gateless server = %v, want refusal", err)
	}
}

// TestServerKinds speaks the protocol directly and checks each kind of
// request, and that blocks outside the requested root are never served.
func TestServerKinds(t *testing.T) {
	st0 := newStore(t)
	res := importFile(t, st0, randomBytes(1<<20, 7), testLeaf)
	other := importFile(t, st0, randomBytes(256<<10, 8), testLeaf)
	src := newSource(t, nil, st0, allowAll)
	h := newHost(t)
	connect(t, h, src.h)

	var dag, leaves, structure []cid.Cid
	if err := chunker.Walk(t.Context(), st0, res.CID, func(c cid.Cid, b blocks.Block) error {
		dag = append(dag, c)
		if c.Type() == cid.Raw {
			leaves = append(leaves, c)
		} else {
			structure = append(structure, c)
		}
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	tests := []struct {
		name string
		req  Request
		want []cid.Cid // blocks expected, in order
		miss []cid.Cid // missing frames expected
	}{
		{"dag", Request{Kind: KindDAG, Root: res.CID}, dag, nil},
		{"structure", Request{Kind: KindStructure, Root: res.CID}, structure, nil},
		{"leaves", Request{Kind: KindLeaves, Root: res.CID, Start: 2, End: 5}, leaves[2:5], nil},
		{"cids", Request{Kind: KindCIDs, Root: res.CID, CIDs: []cid.Cid{leaves[7], leaves[1]}}, []cid.Cid{leaves[7], leaves[1]}, nil},
		{"foreign cid", Request{Kind: KindCIDs, Root: res.CID, CIDs: []cid.Cid{other.Blocks[0], leaves[0]}}, []cid.Cid{leaves[0]}, []cid.Cid{other.Blocks[0]}},
		{"probe", Request{Kind: KindProbe, Root: res.CID}, nil, nil},
	}
	s, err := openSession(t.Context(), h, src.h.ID(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Pipelined on one stream, like the client does.
			if err := s.send(tc.req); err != nil {
				t.Fatal(err)
			}
			var got, miss []cid.Cid
			for {
				f, err := s.read(5 * time.Second)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if f.Type == FrameEnd {
					break
				}
				switch f.Type {
				case FrameBlock:
					if err := verify(f.CID, f.Data); err != nil {
						t.Fatalf("block %s: %v", f.CID, err)
					}
					got = append(got, f.CID)
				case FrameMissing:
					miss = append(miss, f.CID)
				default:
					t.Fatalf("frame %+v", f)
				}
			}
			if !cidsEqual(got, tc.want) || !cidsEqual(miss, tc.miss) {
				t.Errorf("%s: got %d blocks %d missing, want %d and %d", tc.name, len(got), len(miss), len(tc.want), len(tc.miss))
			}
		})
	}
	// A leaf range past the end is an error frame, then the stream closes.
	if err := s.send(Request{Kind: KindLeaves, Root: res.CID, Start: 1000, End: 1001}); err != nil {
		t.Fatal(err)
	}
	if f, err := s.read(5 * time.Second); err != nil || f.Type != FrameError {
		t.Fatalf("out-of-range leaves: frame %+v, %v; want an error frame", f, err)
	}
}

func cidsEqual(a, b []cid.Cid) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equals(b[i]) {
			return false
		}
	}
	return true
}

// TestNearestFirst ranks one of two equal sources as 40 ms away (through
// Options.RTT, as the node's ping would) and checks that the nearer one
// delivers the bulk. The benchmark measures the same with real delay.
func TestNearestFirst(t *testing.T) {
	data := randomBytes(4<<20, 9)
	srcs, res := seeded(t, 2, data)
	h := newHost(t)
	for _, s := range srcs {
		connect(t, h, s.h)
	}
	far, near := srcs[0].h.ID(), srcs[1].h.ID()
	rtt := func(p peer.ID) time.Duration {
		if p == far {
			return 40 * time.Millisecond
		}
		return 100 * time.Microsecond
	}
	st := newStore(t)
	stats, err := NewClient(h, st).Fetch(t.Context(), res.CID, []peer.ID{far, near}, Options{RTT: rtt})
	if err != nil {
		t.Fatalf("Fetch = %v", err)
	}
	if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}
	nearShare := float64(stats.Peers[1].Blocks) / float64(stats.Blocks)
	if nearShare < 0.8 {
		t.Errorf("near peer delivered %.0f%% of blocks (%+v), want at least 80%%", 100*nearShare, stats.Peers)
	}
	if stats.Peers[1].RTT != 100*time.Microsecond {
		t.Errorf("near peer RTT = %v, want the one Options.RTT gave", stats.Peers[1].RTT)
	}
}

// TestEvenShares checks that equal peers share the work evenly.
func TestEvenShares(t *testing.T) {
	data := randomBytes(6<<20, 10)
	srcs, res := seeded(t, 3, data)
	h := newHost(t)
	for _, s := range srcs {
		connect(t, h, s.h)
	}
	equal := func(peer.ID) time.Duration { return time.Millisecond }
	// The shares follow delivery rates, and on a loaded machine one
	// server's goroutines may be starved for a whole fetch: the test takes
	// the best of three fetches, so only a scheduler that never shares
	// evenly fails it.
	var last string
	for try := range 3 {
		st := newStore(t)
		stats, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(srcs...), Options{RTT: equal})
		if err != nil {
			t.Fatalf("Fetch = %v", err)
		}
		last = ""
		for _, p := range stats.Peers {
			share := float64(p.Bytes) / float64(stats.Bytes) * 3
			if share < 0.5 || share > 1.5 {
				last += fmt.Sprintf("peer %s delivered %.2f of an even share; ", p.ID, share)
			}
		}
		if last == "" {
			return
		}
		t.Logf("try %d: %s", try+1, last)
	}
	t.Errorf("no fetch of three shared evenly (within 0.5..1.5 of an even share): %s", last)
}

// TestPartialPeer: the nearest peer lacks every other leaf; it says so
// (missing frames) and those blocks come from the other peer. Alone, it
// cannot complete the fetch, and the error names a block.
func TestPartialPeer(t *testing.T) {
	data := randomBytes(2<<20, 11)
	srcs, res := seeded(t, 2, data)
	partial, full := srcs[0], srcs[1]
	var dropped int
	for i, c := range res.Blocks {
		if c.Type() == cid.Raw && i%2 == 1 {
			if err := partial.st.DeleteBlock(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			dropped++
		}
	}
	h := newHost(t)
	connect(t, h, partial.h)
	connect(t, h, full.h)
	nearPartial := func(p peer.ID) time.Duration {
		if p == partial.h.ID() {
			return 100 * time.Microsecond
		}
		return 40 * time.Millisecond
	}
	st := newStore(t)
	stats, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(partial, full), Options{RTT: nearPartial})
	if err != nil {
		t.Fatalf("Fetch = %v", err)
	}
	if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}
	if stats.Peers[1].Blocks < dropped {
		t.Errorf("full peer delivered %d blocks, want at least the %d the partial one lacks", stats.Peers[1].Blocks, dropped)
	}

	_, err = NewClient(h, newStore(t)).Fetch(t.Context(), res.CID, ids(partial), Options{})
	if err == nil || !strings.Contains(err.Error(), "no live peer has it") {
		t.Fatalf("Fetch from the partial peer alone = %v, want a missing-block error", err)
	}
}

// TestFetchDirectory fetches a directory DAG of several files at once.
func TestFetchDirectory(t *testing.T) {
	st0 := newStore(t)
	files := map[string][]byte{
		"config.json":       []byte(`{"model_type":"llama"}`),
		"model.safetensors": randomBytes(1<<20+77, 12),
		"sub/tokenizer.bin": randomBytes(300<<10, 13),
	}
	var entries []chunker.DirEntry
	for path, data := range files {
		r := importFile(t, st0, data, testLeaf)
		entries = append(entries, chunker.DirEntry{Path: path, CID: r.CID, Size: int64(len(data))})
	}
	root, _, err := chunker.BuildDir(t.Context(), st0, entries)
	if err != nil {
		t.Fatal(err)
	}
	var all []cid.Cid
	if err := chunker.Walk(t.Context(), st0, root, func(c cid.Cid, _ blocks.Block) error {
		all = append(all, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, nil, st0, allowAll)
	h := newHost(t)
	connect(t, h, src.h)
	st := newStore(t)
	stats, err := NewClient(h, st).Fetch(t.Context(), root, ids(src), Options{})
	if err != nil {
		t.Fatalf("Fetch = %v", err)
	}
	if stats.Blocks != len(all) {
		t.Errorf("Stats.Blocks = %d, want %d", stats.Blocks, len(all))
	}
	for _, e := range entries {
		if got := readFile(t, st, e.CID); !bytes.Equal(got, files[e.Path]) {
			t.Errorf("file %s differs after fetching the directory", e.Path)
		}
	}
}

// slow serves a store, sleeping before every raw leaf.
type slow struct {
	st    *store.Store
	delay time.Duration
}

func (s slow) Has(ctx context.Context, k cid.Cid) (bool, error) { return s.st.Has(ctx, k) }
func (s slow) View(ctx context.Context, k cid.Cid, fn func([]byte) error) error {
	if k.Type() == cid.Raw {
		time.Sleep(s.delay)
	}
	return s.st.View(ctx, k, fn)
}

// TestFastPeerTakesMore: of two equally near peers, the one that serves
// far slower ends up with the smaller part of the work.
func TestFastPeerTakesMore(t *testing.T) {
	data := randomBytes(4<<20, 14)
	stSlow, stFast := newStore(t), newStore(t)
	res := importFile(t, stSlow, data, testLeaf)
	importFile(t, stFast, data, testLeaf)
	sl := newSource(t, slow{stSlow, 20 * time.Millisecond}, stSlow, allowAll)
	fa := newSource(t, nil, stFast, allowAll)
	h := newHost(t)
	connect(t, h, sl.h)
	connect(t, h, fa.h)
	equal := func(peer.ID) time.Duration { return time.Millisecond }
	st := newStore(t)
	stats, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(sl, fa), Options{RTT: equal})
	if err != nil {
		t.Fatalf("Fetch = %v", err)
	}
	if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}
	if fast := float64(stats.Peers[1].Blocks) / float64(stats.Blocks); fast < 0.6 {
		t.Errorf("fast peer delivered %.0f%% of blocks (%+v), want at least 60%%", 100*fast, stats.Peers)
	}
}

// TestRefusingPeerLeftOut: a peer whose gate refuses is left out and the
// others serve the fetch; its refusal shows in its stats.
func TestRefusingPeerLeftOut(t *testing.T) {
	data := randomBytes(1<<20, 15)
	stA, stB := newStore(t), newStore(t)
	res := importFile(t, stA, data, testLeaf)
	importFile(t, stB, data, testLeaf)
	refuse := func(peer.ID, cid.Cid) error { return errors.New("policy: jurisdiction FR not allowed") }
	no := newSource(t, nil, stA, refuse)
	yes := newSource(t, nil, stB, allowAll)
	h := newHost(t)
	connect(t, h, no.h)
	connect(t, h, yes.h)
	st := newStore(t)
	stats, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(no, yes), Options{})
	if err != nil {
		t.Fatalf("Fetch = %v", err)
	}
	if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}
	if p := stats.Peers[0]; p.Blocks != 0 || !strings.Contains(p.Err, "jurisdiction FR") {
		t.Errorf("refusing peer stats = %+v, want no blocks and the refusal", p)
	}
}

// TestFetchCheckHook: Options.Check sees every leaf before it is stored,
// and a leaf it refuses drops the peer that sent it, as the client's own
// check does; the fetch completes from the other peer.
func TestFetchCheckHook(t *testing.T) {
	data := randomBytes(2<<20, 11)
	srcs, res := seeded(t, 2, data)
	h := newHost(t)
	for _, s := range srcs {
		connect(t, h, s.h)
	}
	var leaves []cid.Cid
	for _, c := range res.Blocks {
		if c.Type() == cid.Raw {
			leaves = append(leaves, c)
		}
	}
	refuse := leaves[len(leaves)/2]
	var mu sync.Mutex
	seen := map[cid.Cid]int{}
	st := newStore(t)
	stats, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(srcs...), Options{
		Check: func(c cid.Cid, data []byte) (handled, ok bool) {
			mu.Lock()
			defer mu.Unlock()
			seen[c]++
			if c == refuse && seen[c] == 1 {
				return true, false
			}
			return false, false // the client checks the rest itself
		},
	})
	if err != nil {
		t.Fatalf("Fetch = %v, want nil", err)
	}
	if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}
	for _, c := range leaves {
		if seen[c] == 0 {
			t.Fatalf("leaf %s never offered to Check", c)
		}
	}
	dropped := 0
	for _, p := range stats.Peers {
		if strings.Contains(p.Err, "bad block "+refuse.String()) {
			dropped++
		}
	}
	if dropped != 1 || seen[refuse] < 2 {
		t.Fatalf("refused leaf: %d peers dropped for it, offered %d times; want 1 dropped, offered again", dropped, seen[refuse])
	}
}

// TestServerSendsRottenBlockAsMissing: a byte flipped in a store's pack
// file on disk. The server, which checks the blocks a store reads for it
// (store.ReadOnceUnchecked, two at a time), sends that block as missing
// and tells the store, which marks it bad; a client with only that source
// stores nothing wrong and fails naming what is left, and with a second
// source completes the file.
func TestServerSendsRottenBlockAsMissing(t *testing.T) {
	data := randomBytes(2<<20, 12)
	dir := t.TempDir()
	badSt, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { badSt.Close() })
	res := importFile(t, badSt, data, testLeaf)
	pack := filepath.Join(dir, "packs", "00000000.pack")
	f, err := os.OpenFile(pack, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("test setup: the leaves are not in %s: %v", pack, err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, 1<<20+777)
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, 1<<20+777); err != nil {
		t.Fatal(err)
	}
	f.Close()
	bad := newSource(t, nil, badSt, allowAll)
	h := newHost(t)
	connect(t, h, bad.h)
	st := newStore(t)
	if _, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(bad), Options{StallTimeout: 2 * time.Second}); err == nil {
		t.Fatal("Fetch from the rotten source alone = nil, want an error")
	}
	rotten, err := badSt.BadBlocks(t.Context())
	if err != nil || len(rotten) != 1 {
		t.Fatalf("source's bad blocks = %v, %v; want the one rotten block", rotten, err)
	}
	if ok, _ := st.Has(t.Context(), rotten[0]); ok {
		t.Fatal("the rotten block reached the client's store")
	}
	good := newSource(t, nil, newStore(t), allowAll)
	importFile(t, good.st, data, testLeaf)
	connect(t, h, good.h)
	if _, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(bad, good), Options{}); err != nil {
		t.Fatalf("Fetch with a good source too = %v", err)
	}
	if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}
}
