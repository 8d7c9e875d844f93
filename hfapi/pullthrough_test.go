package hfapi

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
)

// heldPuller hands over a revision's manifest and leaves, then holds the
// pull open until release is closed.
type heldPuller struct {
	rev       storetest.Revision
	calls     atomic.Int32
	delivered chan struct{}
	release   chan struct{}
	err       error
}

func (p *heldPuller) Pull(ctx context.Context, kind manifest.Kind, repo, rev string, onManifest func(*manifest.Manifest), onBlock func(cid.Cid, []byte)) error {
	p.calls.Add(1)
	if p.err != nil {
		return p.err
	}
	onManifest(p.rev.Manifest)
	for _, c := range p.rev.Leaves {
		onBlock(c, p.rev.Block(c).RawData())
	}
	close(p.delivered)
	select {
	case <-p.release:
	case <-ctx.Done():
	}
	return nil
}

// TestPullThroughSharesOnePull: requests for a missing revision share one
// pull, are answered its manifest as soon as it is known and its blocks
// as they arrive; once the pull ends, a block the store lacks is not found.
func TestPullThroughSharesOnePull(t *testing.T) {
	st := openStore(t)
	rev := storetest.BuildRevision(t, nil, manifest.Model, "acme/pt", []storetest.File{{Path: "w.bin", Data: storetest.Bytes(1, 200<<10)}})
	p := &heldPuller{rev: rev, delivered: make(chan struct{}), release: make(chan struct{})}
	pt := NewPullThrough(t.Context(), st, p, nil)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := pt.Resolve(t.Context(), manifest.Model, "acme/pt", "main")
			if err == nil && m.Commit != rev.Manifest.Commit {
				err = errors.New("another manifest")
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Resolve during the pull: %v", err)
		}
	}
	<-p.delivered
	leaf := rev.Leaves[0]
	b, err := pt.Get(t.Context(), leaf)
	if err != nil || string(b.RawData()) != string(rev.Block(leaf).RawData()) {
		t.Fatalf("Get of an arrived block: %v", err)
	}
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("%d pulls for one revision, want 1", n)
	}
	close(p.release)
	// The pull is over: nothing waits, the store (which the puller did not
	// fill) lacks the block.
	for range 1000 {
		pt.mu.Lock()
		running, arrived := len(pt.pulls) > 0, pt.arrived
		pt.mu.Unlock()
		if !running {
			break
		}
		select { // the pull's end wakes it
		case <-arrived:
		case <-t.Context().Done():
		}
	}
	if _, err := pt.Get(t.Context(), leaf); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after the pull: %v, want not found", err)
	}
}

// TestPullThroughNobodySends: a revision no one can send stays the
// store's "not found".
func TestPullThroughNobodySends(t *testing.T) {
	p := &heldPuller{err: errors.New("no member holds it")}
	pt := NewPullThrough(t.Context(), openStore(t), p, nil)
	_, err := pt.Resolve(t.Context(), manifest.Model, "acme/none", "main")
	if !errors.Is(err, store.ErrRepoNotFound) && !errors.Is(err, store.ErrRevisionNotFound) {
		t.Fatalf("Resolve = %v, want the store's not found", err)
	}
}
