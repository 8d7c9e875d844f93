package fetch

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/store"
)

// batchLog is a real store that records the bytes of every PutMany.
type batchLog struct {
	*store.Store
	mu      sync.Mutex
	batches []int
}

func (b *batchLog) PutMany(ctx context.Context, bs []blocks.Block) error {
	n := 0
	for _, bl := range bs {
		n += len(bl.RawData())
	}
	b.mu.Lock()
	b.batches = append(b.batches, n)
	b.mu.Unlock()
	return b.Store.PutMany(ctx, bs)
}

// TestWriterStoresEveryBlockOnce: the group-committing writer stores each
// block once, in batches of at most its limit (plus the block that
// crossed it), then records it in the have-set and hands it to OnBlock.
func TestWriterStoresEveryBlockOnce(t *testing.T) {
	st := &batchLog{Store: newStore(t)}
	const n, size, max = 48, 300 << 10, 2 << 20
	hs := NewHaves().Track(cid.Undef)
	if err := hs.SetLeaves(n); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[cid.Cid]int{}
	w := newWriter(t.Context(), st, max, hs, func(c cid.Cid, data []byte) {
		mu.Lock()
		seen[c]++
		mu.Unlock()
	})
	var bs []blocks.Block
	for i := range n {
		b := blocks.NewBlock(randomBytes(size, uint64(i)))
		bs = append(bs, b)
		if !w.put(b, i) {
			t.Fatalf("put #%d refused", i)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, m := range st.batches {
		if m > max+size {
			t.Errorf("a batch of %d bytes, want at most %d", m, max+size)
		}
		total += m
	}
	if total != n*size {
		t.Errorf("batches hold %d bytes in all, want %d", total, n*size)
	}
	for i, b := range bs {
		var got []byte
		err := st.View(t.Context(), b.Cid(), func(v []byte) error { got = append(got, v...); return nil })
		if err != nil || !bytes.Equal(got, b.RawData()) {
			t.Errorf("block #%d: %v", i, err)
		}
		if seen[b.Cid()] != 1 {
			t.Errorf("block #%d seen by OnBlock %d times, want once", i, seen[b.Cid()])
		}
		if !hs.Has(i) {
			t.Errorf("leaf #%d not in the have-set", i)
		}
	}
}

// TestWriterReportsStoreFailure: once the store fails, put refuses and
// close reports the failure.
func TestWriterReportsStoreFailure(t *testing.T) {
	st := newStore(t)
	st.Close()
	w := newWriter(t.Context(), st, 1<<20, nil, nil)
	refused := false
	// More blocks than the writer can hold before its store has been
	// tried (its queue and two batches), so some put meets the failure.
	for i := range 200 {
		if !w.put(blocks.NewBlock(randomBytes(64<<10, uint64(i))), i) {
			refused = true
			break
		}
	}
	err := w.close()
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("close() = %v, want store.ErrClosed", err)
	}
	if !refused {
		t.Error("every put was queued though the store had failed")
	}
}
