package fetch

import (
	"context"
	"fmt"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// writer stores verified blocks off the network path and records each
// stored leaf in the node's have-set (hs, may be nil), so the node serves
// a block once it is stored. It commits in groups: one goroutine collects
// blocks while another stores the previous batch, and a batch goes to the
// store as soon as the store is idle. A store write (direct I/O, waited
// for) then never holds up the checker, and the slower the store, the
// larger (and cheaper per byte) its batches; a block waits at most one
// batch's write before the node serves it.
type writer struct {
	ch     chan leafBlock
	failed chan struct{} // closed when the store failed
	done   chan struct{} // closed when both goroutines are done
	err    error         // set before failed is closed
}

type leafBlock struct {
	b    blocks.Block
	leaf int
}

// batch is blocks handed to one PutMany, with their leaf indexes.
type batch struct {
	bs     []blocks.Block
	leaves []int
	n      int // bytes
}

// newWriter starts a writer into bs whose batches hold at most max
// bytes (or one block); onBlock (may be nil) sees every stored block.
func newWriter(ctx context.Context, bs Blocks, max int, hs *HaveSet, onBlock func(cid.Cid, []byte)) *writer {
	w := &writer{ch: make(chan leafBlock, 32), failed: make(chan struct{}), done: make(chan struct{})}
	todo := make(chan *batch) // unbuffered: taken only by an idle store
	stored := make(chan struct{})
	// Blocks that arrived verified are stored even when the fetch is
	// cancelled: that is what a later fetch resumes from.
	go w.store(context.WithoutCancel(ctx), bs, hs, onBlock, todo, stored)
	go w.collect(max, todo, stored)
	return w
}

// Group commit: a batch goes to an idle store once it holds minBatch
// bytes or its first block has waited maxDelay, so a fast store is not
// handed one small block at a time (each PutMany is a direct write padded
// to a page and a badger batch) and a block waits briefly at most.
const (
	minBatch = 1 << 20
	maxDelay = 2 * time.Millisecond
)

// collect gathers blocks into a batch until the store takes it; a full
// batch waits for the store (and the checker, in turn, for this).
func (w *writer) collect(max int, todo chan<- *batch, stored <-chan struct{}) {
	defer func() {
		close(todo)
		<-stored
		close(w.done)
	}()
	cur := &batch{}
	closed := false
	delay := time.NewTimer(maxDelay)
	delay.Stop()
	waited := false // cur's first block has waited maxDelay
	for {
		var in <-chan leafBlock
		if !closed && cur.n < max {
			in = w.ch
		}
		var out chan<- *batch
		if len(cur.bs) > 0 && (cur.n >= minBatch || waited || closed) {
			out = todo
		}
		if in == nil && out == nil && len(cur.bs) == 0 {
			return
		}
		select {
		case lb, ok := <-in:
			if !ok {
				closed = true
				continue
			}
			if len(cur.bs) == 0 {
				delay.Reset(maxDelay)
				waited = false
			}
			cur.bs = append(cur.bs, lb.b)
			cur.leaves = append(cur.leaves, lb.leaf)
			cur.n += len(lb.b.RawData())
		case <-delay.C:
			waited = true
		case out <- cur:
			delay.Stop()
			cur, waited = &batch{}, false
		}
	}
}

// store writes each batch it is handed; after a failure it drops the
// rest.
func (w *writer) store(ctx context.Context, bs Blocks, hs *HaveSet, onBlock func(cid.Cid, []byte), todo <-chan *batch, stored chan<- struct{}) {
	defer close(stored)
	for b := range todo {
		if w.err != nil {
			continue
		}
		if err := bs.PutMany(ctx, b.bs); err != nil {
			w.err = fmt.Errorf("local store: %w", err)
			close(w.failed)
			continue
		}
		for i, l := range b.leaves {
			if hs != nil {
				hs.AddBlock(l, b.bs[i].Cid(), b.bs[i].RawData())
			}
			if onBlock != nil {
				onBlock(b.bs[i].Cid(), b.bs[i].RawData())
			}
		}
	}
}

// put queues b; false when the store failed. It does not give up when
// the fetch is cancelled: a block received is a block kept.
func (w *writer) put(b blocks.Block, leaf int) bool {
	select {
	case w.ch <- leafBlock{b, leaf}:
		return true
	case <-w.failed:
		return false
	}
}

// close stores what was queued and reports the store's failure, if any.
func (w *writer) close() error {
	close(w.ch)
	<-w.done
	return w.err
}
