package fetch

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestLateJoinerBecomesSource: a member that lacks the root when a fetch
// starts, and starts fetching it a moment later, is probed again and
// becomes a source of the running fetch; OnBlock sees every block stored.
func TestLateJoinerBecomesSource(t *testing.T) {
	const size = 4 << 20
	data := randomBytes(size, 31)
	origin := newSwarmNode(t, 1<<20, nil)
	res := importFile(t, origin.st, data, 128<<10)
	early, late := newSwarmNode(t, 0, nil), newSwarmNode(t, 0, nil)
	meshed(t, []*swarmNode{origin, early, late})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	var lateErr error
	var once sync.Once
	var wg sync.WaitGroup
	defer wg.Wait()
	startLate := func() {
		wg.Go(func() {
			_, lateErr = late.cl.Fetch(ctx, res.CID, []peer.ID{origin.h.ID(), early.h.ID()}, Options{})
		})
	}
	var seen atomic.Int64
	var seenBytes atomic.Int64
	st, err := early.cl.Fetch(ctx, res.CID, []peer.ID{origin.h.ID(), late.h.ID()}, Options{
		ProgressInterval: 50 * time.Millisecond,
		Progress: func(p Progress) {
			if p.Bytes > 0 {
				once.Do(startLate)
			}
		},
		OnBlock: func(c cid.Cid, b []byte) {
			if err := verify(c, b); err != nil {
				t.Errorf("OnBlock: %v", err)
			}
			seen.Add(1)
			seenBytes.Add(int64(len(b)))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if lateErr != nil {
		t.Fatalf("late fetch: %v", lateErr)
	}
	if got := readFile(t, early.st, res.CID); !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
	if seen.Load() != int64(st.Blocks) || seenBytes.Load() != st.Bytes {
		t.Errorf("OnBlock saw %d blocks, %d bytes; the fetch stored %d, %d", seen.Load(), seenBytes.Load(), st.Blocks, st.Bytes)
	}
	for _, p := range st.Peers {
		if p.ID == late.h.ID() && p.Bytes == 0 {
			t.Errorf("the late joiner delivered nothing (%+v)", p)
		}
	}
}
