package fetch

import (
	"context"
	"fmt"
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
