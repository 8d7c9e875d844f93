package fetch

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// TestHaveSetSnapshots: a peer that applies every snapshot it is sent
// (bitfields, then deltas past the generation it has) holds exactly the
// leaves the set recorded, and a delta is sent when it is the smaller.
func TestHaveSetSnapshots(t *testing.T) {
	const leaves = 1000
	hs := newHaveSet()
	if h := hs.Snapshot(0); h.Mode != HaveBits || h.Leaves != 0 {
		t.Fatalf("before SetLeaves: %+v, want an empty bitfield", h)
	}
	if err := hs.SetLeaves(leaves); err != nil {
		t.Fatal(err)
	}
	if err := hs.SetLeaves(leaves + 1); err == nil {
		t.Fatal("SetLeaves with another count succeeded")
	}
	var p peerState
	rng := rand.New(rand.NewPCG(1, 2))
	want := make([]bool, leaves)
	deltas := 0
	for round := range 50 {
		for range rng.IntN(20) {
			i := rng.IntN(leaves)
			hs.Add(i)
			want[i] = true
		}
		h := hs.Snapshot(p.hgen)
		if h.Mode == HaveDelta {
			deltas++
		}
		b, err := appendHave(nil, h)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readHave(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatal(err)
		}
		p.applyHave(got)
		for i := range leaves {
			has := p.hbits[i/64]&(1<<(i%64)) != 0
			if has != want[i] || hs.Has(i) != want[i] {
				t.Fatalf("round %d leaf %d: peer %v, set %v, want %v", round, i, has, hs.Has(i), want[i])
			}
		}
	}
	if deltas == 0 {
		t.Error("no snapshot was a delta")
	}
	hs.Complete()
	if h := hs.Snapshot(p.hgen); h.Mode != HaveAll {
		t.Fatalf("complete set answered %+v, want all", h)
	}
	p.applyHave(hs.Snapshot(0))
	if p.partial {
		t.Fatal("peer still partial after an all answer")
	}
}

// TestLimiterNil: a rate of 0 is no limit (TestRateLimits measures a
// real one).
func TestLimiterNil(t *testing.T) {
	var l *Limiter
	if err := l.Wait(t.Context(), 1<<30); err != nil || l.Rate() != 0 {
		t.Fatalf("nil limiter: %v, rate %d", err, l.Rate())
	}
	if NewLimiter(0) != nil {
		t.Fatal("NewLimiter(0) is not unlimited")
	}
}

// TestAskHave: over real hosts, a full holder answers "all", a node that
// tracks a root answers its bitfield, and a request naming its current
// generation is answered as soon as a leaf is added.
func TestAskHave(t *testing.T) {
	data := randomBytes(1<<20, 25)
	full := newSwarmNode(t, 0, nil)
	res := importFile(t, full.st, data, 256<<10)
	part := newSwarmNode(t, 0, nil)
	h := newHost(t, "tcp")
	connect(t, h, full.h)
	connect(t, h, part.h)
	ctx := t.Context()
	if hv, err := AskHave(ctx, h, full.h.ID(), res.CID, 0); err != nil || hv.Mode != HaveAll {
		t.Fatalf("full holder: %+v, %v; want all", hv, err)
	}
	if _, err := AskHave(ctx, h, part.h.ID(), res.CID, 0); err == nil {
		t.Fatal("a node that neither holds nor tracks the root answered")
	}
	hs := part.haves.Track(res.CID)
	if err := hs.SetLeaves(4); err != nil {
		t.Fatal(err)
	}
	hs.Add(2)
	hv, err := AskHave(ctx, h, part.h.ID(), res.CID, 0)
	if err != nil || hv.Mode != HaveBits || hv.Leaves != 4 || !hv.Holds(2) || hv.Holds(1) {
		t.Fatalf("partial holder: %+v, %v; want leaf 2 of 4", hv, err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		hs.Add(0)
	}()
	next, err := AskHave(ctx, h, part.h.ID(), res.CID, hv.Gen)
	if err != nil || next.Gen <= hv.Gen || !next.Holds(0) {
		t.Fatalf("after a change: %+v, %v; want leaf 0 past generation %d", next, err, hv.Gen)
	}
}

// TestHaveSetRecent: once a peer asked about the DAG, the bytes of the
// blocks added last are kept up to recentBytes, the oldest dropped first,
// and none once the set is complete (a complete DAG is read from the
// store); before anyone asked, none are kept.
func TestHaveSetRecent(t *testing.T) {
	const blk = 1 << 20
	n := recentBytes/blk + 4
	hs := newHaveSet()
	if err := hs.SetLeaves(n + 1); err != nil {
		t.Fatal(err)
	}
	alone := bytes.Repeat([]byte{0xff}, blk)
	if !hs.AddBlock(n, fuzzCID(string(alone)), alone) || hs.Recent(fuzzCID(string(alone))) != nil {
		t.Fatal("a block added before anyone asked was kept (or not added)")
	}
	hs.Asked()
	cids := make([]cid.Cid, n)
	for i := range n {
		data := bytes.Repeat([]byte{byte(i)}, blk)
		cids[i] = fuzzCID(string(data))
		if !hs.AddBlock(i, cids[i], data) {
			t.Fatalf("leaf %d: not new", i)
		}
	}
	if hs.AddBlock(0, cids[0], nil) {
		t.Fatal("leaf 0 added twice")
	}
	for i := range n {
		got := hs.Recent(cids[i])
		if i < 4 && got != nil {
			t.Fatalf("leaf %d: still kept past %d bytes", i, recentBytes)
		}
		if i >= 4 && (len(got) != blk || got[0] != byte(i)) {
			t.Fatalf("leaf %d: recent bytes %d long, want its %d bytes", i, len(got), blk)
		}
	}
	if have, _ := hs.Count(); have != n+1 {
		t.Fatalf("count %d, want %d", have, n+1)
	}
	hs.Complete()
	if hs.Recent(cids[n-1]) != nil {
		t.Fatal("a complete set still keeps recent blocks")
	}
	var none *HaveSet
	none.Asked()
	if none.Recent(cids[0]) != nil {
		t.Fatal("a nil set returned bytes")
	}
}
