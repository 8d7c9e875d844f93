package fetch

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

func testSched(t *testing.T, sizes []int64, pieceSize int64, rtts []time.Duration) *sched {
	t.Helper()
	f := &fetcher{}
	for i, r := range rtts {
		f.peers = append(f.peers, &peerState{id: peer.ID(fmt.Sprintf("peer%d", i)), index: i, rtt: r, live: true})
	}
	s := &sched{f: f, piece: pieceSize, changed: make(chan struct{}), done: make(chan struct{})}
	for i, n := range sizes {
		h, err := mh.Sum([]byte{byte(i), byte(i >> 8)}, mh.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		s.wants = append(s.wants, want{c: cid.NewCidV1(cid.Raw, h), size: n})
		s.queue = append(s.queue, &piece{idx: []int{i}, bytes: n})
	}
	s.got = make([]bool, len(sizes))
	s.left = len(sizes)
	return s
}

// TestShareAlwaysHandsOut: whatever the piece and block sizes and the
// peers' round trips, when every peer is idle one of them may take the
// next piece. A block larger than the piece size used to be refused by
// all peers once three could serve it.
func TestShareAlwaysHandsOut(t *testing.T) {
	const k = 1 << 10
	ms := time.Millisecond
	cases := []struct {
		name  string
		sizes []int64
		piece int64
		rtts  []time.Duration
	}{
		{"512K block/256K pieces/3 peers", []int64{512 * k}, 256 * k, []time.Duration{ms, ms, ms}},
		{"small then 512K/3 peers", []int64{100, 512 * k}, 256 * k, []time.Duration{ms, ms, ms}},
		{"1M blocks/4 peers", []int64{1024 * k, 1024 * k, 5}, 256 * k, []time.Duration{ms, ms, ms, ms}},
		{"2M blocks/6 peers, one far", []int64{2048 * k, 2048 * k, 2048 * k}, 256 * k,
			[]time.Duration{ms, ms, ms, ms, ms, 40 * ms}},
		{"mixed/5 peers, uneven", []int64{256 * k, 700 * k, 1, 256 * k, 1024 * k, 3 * k}, 256 * k,
			[]time.Duration{ms, 3 * ms, 10 * ms, 40 * ms, 80 * ms}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := testSched(t, tc.sizes, tc.piece, tc.rtts)
			for round := 0; len(s.queue) > 0; round++ {
				if round > len(tc.sizes) {
					t.Fatalf("round %d: %d pieces still queued", round, len(s.queue))
				}
				// Every peer idle: someone must take something.
				took := 0
				for _, p := range s.f.peers {
					if a := s.takeLocked(p); a != nil {
						took++
					}
				}
				if took == 0 {
					t.Fatalf("round %d: no idle peer took any of %d queued pieces (first %d bytes)", round, len(s.queue), s.queue[0].bytes)
				}
				for _, p := range s.f.peers {
					for _, a := range p.inflight {
						for _, w := range a.piece.idx {
							s.got[w] = true
						}
					}
					p.inflight = nil
				}
			}
		})
	}
}

// TestStallEndsFetch: when every worker waits for a change and nothing
// is in flight, the fetch ends with an error naming what is left, and
// the waiting take calls return. A worker woken by a change is not
// counted as waiting until it has looked at the new state.
func TestStallEndsFetch(t *testing.T) {
	s := testSched(t, []int64{100}, 256<<10, []time.Duration{time.Millisecond, time.Millisecond})
	// Every peer lacks the block, but the queue does not say so: a state
	// no code path reaches, standing in for a scheduling bug.
	s.queue[0].exclude = map[peer.ID]bool{s.f.peers[0].id: true, s.f.peers[1].id: true}
	s.workers = 2
	got := make(chan *assignment, 2)
	for _, p := range s.f.peers {
		go func() { got <- s.take(t.Context(), p, true) }()
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("stalled scheduler did not end the fetch")
	}
	for range s.f.peers {
		if a := <-got; a != nil {
			t.Errorf("take = %+v, want nil after the stall", a)
		}
	}
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "1 blocks left") {
		t.Errorf("err = %v, want one naming the 1 block left", err)
	}

	// A notify between parking and re-checking: the woken worker is not
	// waiting, so one parked worker of two is no stall.
	s = testSched(t, []int64{100}, 256<<10, []time.Duration{time.Millisecond, time.Millisecond})
	s.workers = 2
	s.mu.Lock()
	s.waiting = 1
	s.notify()
	s.waiting++ // the other worker parks
	s.checkStalled()
	err = s.err
	s.mu.Unlock()
	if err != nil {
		t.Errorf("checkStalled with a woken worker = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if a := s.take(ctx, s.f.peers[0], true); a == nil {
		t.Errorf("take on a queued piece = nil, want an assignment")
	}
}

// TestIdlePeerRacesFarPiece: with the queue dry, an idle near peer
// re-requests the unfinished piece of a far peer that has delivered
// nothing yet (no rate measured) instead of waiting on it; the far peer
// never races the near one, and of two equal peers neither races the
// other's only piece.
func TestIdlePeerRacesFarPiece(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name      string
		rtts      []time.Duration
		owner     int // holds the piece
		idle      int // looks for work
		wantSteal bool
	}{
		{"near idle, far owes", []time.Duration{ms / 10, 70 * ms}, 1, 0, true},
		{"far idle, near owes", []time.Duration{ms / 10, 70 * ms}, 0, 1, false},
		{"equal peers", []time.Duration{ms, ms}, 1, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := testSched(t, []int64{256 << 10, 256 << 10}, 256<<10, tc.rtts)
			owner, idle := s.f.peers[tc.owner], s.f.peers[tc.idle]
			// The idle peer delivered the first piece; the owner was just
			// asked for the second and has delivered nothing.
			s.queue = nil
			s.got[0], s.left = true, 1
			idle.rate, idle.samples = 400e6, 1
			a := s.assign(owner, &piece{idx: []int{1}, bytes: 256 << 10})
			a.sent = time.Now()
			got := s.takeLocked(idle)
			if (got != nil) != tc.wantSteal {
				t.Fatalf("takeLocked(idle) = %+v, want a duplicate: %v", got, tc.wantSteal)
			}
			if got != nil && (!got.stolen || len(got.piece.idx) != 1 || got.piece.idx[0] != 1) {
				t.Errorf("duplicate = %+v, want want 1, marked stolen", got.piece)
			}
		})
	}
}

// TestFarPeerWaitsForNearerProbe: a peer that answered first takes its
// allowance but not the bulk while a peer the node knows to be as near
// or nearer is still probing; the near peer, answering first, never
// waits for a far one still probing.
func TestFarPeerWaitsForNearerProbe(t *testing.T) {
	ms := time.Millisecond
	sizes := make([]int64, 16)
	for i := range sizes {
		sizes[i] = 256 << 10
	}
	takeAll := func(s *sched, p *peerState) int {
		n := 0
		for s.takeLocked(p) != nil {
			n++
			if n > len(sizes) {
				t.Fatal("took more pieces than queued")
			}
		}
		return n
	}
	for _, tc := range []struct {
		name    string
		rtts    []time.Duration
		live    int // the peer that answered; the other is probing
		wantMax int
	}{
		{"far answered first", []time.Duration{ms / 10, 40 * ms}, 1, 2},
		{"near answered first", []time.Duration{ms / 10, 40 * ms}, 0, len(sizes)},
		{"equal peer still probing", []time.Duration{ms, ms}, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSched(t, sizes, 256<<10, tc.rtts)
			other := s.f.peers[1-tc.live]
			other.live, other.hint = false, other.rtt
			s.f.pending = 1
			got := takeAll(s, s.f.peers[tc.live])
			if got < 1 || got > tc.wantMax {
				t.Errorf("peer %d took %d of %d pieces, want 1..%d", tc.live, got, len(sizes), tc.wantMax)
			}
			if tc.wantMax == len(sizes) && got != len(sizes) {
				t.Errorf("near peer took %d of %d pieces, want all", got, len(sizes))
			}
		})
	}
}

// TestFarPeerBehindDelay: one source behind a 70 ms round trip, one on
// loopback, the node's round trips given as Options.RTT. Whether the far
// one joins late or its probe is cut when the fetch is done without it,
// the fetch completes with the whole DAG, the near source carries at
// least 80%, and the far one is not reported as failed.
func TestFarPeerBehindDelay(t *testing.T) {
	data := randomBytes(4<<20, 21)
	srcs, res := seeded(t, 2, data)
	far, near := srcs[0], srcs[1]
	h := newHost(t)
	connect(t, h, far.h, delayProxy(t, tcpAddr(t, far.h), 35*time.Millisecond))
	connect(t, h, near.h)
	rtt := func(p peer.ID) time.Duration {
		if p == far.h.ID() {
			return 70 * time.Millisecond
		}
		return 100 * time.Microsecond
	}
	st := newStore(t)
	stats, err := NewClient(h, st).Fetch(t.Context(), res.CID, ids(far, near), Options{RTT: rtt})
	if err != nil {
		t.Fatalf("Fetch = %v", err)
	}
	if got := readFile(t, st, res.CID); !bytes.Equal(got, data) {
		t.Fatal("fetched file differs")
	}
	if share := float64(stats.Peers[1].Bytes) / float64(stats.Bytes); share < 0.8 {
		t.Errorf("near peer delivered %.0f%% of bytes (%s), want at least 80%%", 100*share, statsLine(stats))
	}
	if p := stats.Peers[0]; p.Err != "" || p.RTT != 70*time.Millisecond {
		t.Errorf("far peer stats = %+v, want no error and the RTT Options.RTT gave", p)
	}
}

// swarmSched is testSched with one want per leaf, in swarm mode: peer0
// is a full holder (the origin), the others partial holders of the
// given leaves.
func swarmSched(t *testing.T, leaves int, holds ...[]int) *sched {
	t.Helper()
	sizes := make([]int64, leaves)
	rtts := []time.Duration{time.Millisecond}
	for range holds {
		rtts = append(rtts, time.Millisecond)
	}
	for i := range sizes {
		sizes[i] = 1 << 20
	}
	s := testSched(t, sizes, 1<<20, rtts)
	s.swarm, s.nleaves, s.swarmPiece = true, leaves, 1<<20
	s.tie = make([]uint64, leaves)
	s.self = peer.ID("self")
	s.lastGot = time.Now()
	for i := range s.wants {
		s.wants[i].leaf = i
	}
	for i, hs := range holds {
		p := s.f.peers[i+1]
		p.partial, p.hleaves, p.hbits = true, leaves, make([]uint64, (leaves+63)/64)
		for _, l := range hs {
			p.hbits[l/64] |= 1 << (l % 64)
		}
	}
	return s
}

func takenLeaves(s *sched, p *peerState) []int {
	a := s.takeLocked(p)
	if a == nil {
		return nil
	}
	var out []int
	for _, w := range a.piece.idx {
		out = append(out, s.wants[w].leaf)
	}
	return out
}

// TestSwarmRarestFirst: a partial holder is asked for the rarest leaf it
// holds; the origin only for leaves no partial holder has, and of those
// only the ones this node owns — until nobody owes it a block and its
// patience ran out; a clearly nearer holder with room serves first.
func TestSwarmRarestFirst(t *testing.T) {
	// Leaf 0: A only. Leaves 1, 2: A and B. Leaf 3: nobody.
	s := swarmSched(t, 4, []int{0, 1, 2}, []int{1, 2})
	origin, a, b := s.f.peers[0], s.f.peers[1], s.f.peers[2]
	if got := takenLeaves(s, a); !slices.Equal(got, []int{0}) {
		t.Fatalf("A took %v, want the rarest leaf it holds, [0]", got)
	}
	if got := takenLeaves(s, b); len(got) != 1 || got[0] != 1 && got[0] != 2 {
		t.Fatalf("B took %v, want leaf 1 or 2", got)
	}
	mine := ownerScore(s.self, 3) > max(ownerScore(a.id, 3), ownerScore(b.id, 3))
	got := takenLeaves(s, origin)
	if mine && !slices.Equal(got, []int{3}) || !mine && got != nil {
		t.Fatalf("origin took %v; this node owns leaf 3: %v", got, mine)
	}
	if !mine {
		// Owed blocks keep the node patient; once none are owed and
		// none came for a while, it asks the origin itself.
		s.lastGot = time.Now().Add(-time.Minute)
		if got := takenLeaves(s, origin); got != nil {
			t.Fatalf("origin took %v while A and B owe blocks", got)
		}
		a.inflight, b.inflight = nil, nil
		if got := takenLeaves(s, origin); !slices.Equal(got, []int{3}) {
			t.Fatalf("idle and out of patience, origin took %v, want [3]", got)
		}
	}

	// Nearest first among equals: A is far, B near and free.
	s = swarmSched(t, 2, []int{0, 1}, []int{0, 1})
	a, b = s.f.peers[1], s.f.peers[2]
	a.rtt, b.rtt = 40*time.Millisecond, time.Millisecond
	if got := takenLeaves(s, a); got != nil {
		t.Fatalf("far A took %v while near B has room", got)
	}
	if got := takenLeaves(s, b); len(got) != 1 {
		t.Fatalf("near B took %v, want one leaf", got)
	}
}

// TestSwarmSeedAndOwedCap: a partial holder whose have-set turns "all"
// during the fetch is asked for any leaf like a partial holder (a seed),
// while the origin still sends only leaves nobody else has; and partial
// holders together owe at most swarmOwedPartial pieces.
func TestSwarmSeedAndOwedCap(t *testing.T) {
	const leaves = 12
	all := make([]int, leaves)
	for i := range all {
		all[i] = i
	}
	// A holds leaf 0 only, B nothing, C, D, E every leaf.
	s := swarmSched(t, leaves, []int{0}, []int{}, all, all, all)
	origin, a := s.f.peers[0], s.f.peers[1]
	s.applyHave(a, Have{Mode: HaveAll, Gen: 9})
	if !a.partial || !a.seed {
		t.Fatalf("A after \"all\": partial %v seed %v, want a partial seed", a.partial, a.seed)
	}
	for w := range s.wants {
		if !s.holds(a, w) {
			t.Fatalf("seed A does not hold leaf %d", w)
		}
	}
	if got := takenLeaves(s, origin); got != nil {
		t.Fatalf("origin took %v though seed A holds every leaf", got)
	}
	taken := 0
	for range 2 * swarmOwedPartial {
		for _, p := range s.f.peers[1:] {
			if got := takenLeaves(s, p); got != nil {
				taken++
			}
		}
	}
	if taken != swarmOwedPartial {
		t.Fatalf("partial holders took %d pieces, want the cap %d", taken, swarmOwedPartial)
	}
	for _, p := range s.f.peers[1:] {
		if len(p.inflight) > swarmDepthPartial {
			t.Fatalf("%s owes %d pieces, over %d", p.id, len(p.inflight), swarmDepthPartial)
		}
	}
}
