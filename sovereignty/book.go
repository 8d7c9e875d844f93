package sovereignty

import (
	"bytes"
	"fmt"
	"sync"
)

// CheckpointBook keeps the latest audit checkpoint of every node, as
// members publish them, so a node's log can be checked against what others
// saw (VerifyOptions.Peers). It is safe for concurrent use. The caller
// checks that a checkpoint's key is its node's (a libp2p peer ID is derived
// from the key); the book checks signatures and order.
type CheckpointBook struct {
	mu  sync.Mutex
	max int
	m   map[string]Checkpoint
}

// NewCheckpointBook keeps checkpoints of at most max nodes (0 means 10000);
// beyond that, checkpoints of new nodes are refused.
func NewCheckpointBook(max int) *CheckpointBook {
	if max <= 0 {
		max = 10000
	}
	return &CheckpointBook{max: max, m: map[string]Checkpoint{}}
}

// Keep verifies cp and keeps it when it is later than the one held for its
// node. Not later (a re-delivery) is ErrStale. Another key than the held
// one is ErrBadSignature. Evidence that the node's log was rewritten or cut
// wraps ErrAuditBroken: the same seq with another head, or a lower seq
// signed later than the checkpoint held.
func (b *CheckpointBook) Keep(cp Checkpoint) error {
	if err := cp.Verify(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	held, ok := b.m[cp.Node]
	if !ok {
		if len(b.m) >= b.max {
			return fmt.Errorf("checkpoint book: %d nodes held, limit %d", len(b.m), b.max)
		}
		b.m[cp.Node] = cp
		return nil
	}
	switch {
	case !bytes.Equal(held.Key, cp.Key):
		return fmt.Errorf("checkpoint of %s: signed by another key than the one held: %w", cp.Node, ErrBadSignature)
	case cp.Seq == held.Seq && cp.Head != held.Head:
		return fmt.Errorf("checkpoint of %s: two heads signed for seq %d (log rewritten): %w", cp.Node, cp.Seq, ErrAuditBroken)
	case cp.Seq < held.Seq && cp.Time.After(held.Time):
		return fmt.Errorf("checkpoint of %s: seq %d signed after seq %d (log cut or replaced): %w", cp.Node, cp.Seq, held.Seq, ErrAuditBroken)
	case cp.Seq < held.Seq || cp.Seq == held.Seq && !cp.Final || cp.Seq == held.Seq && held.Final:
		return fmt.Errorf("checkpoint of %s at seq %d, held seq %d: %w", cp.Node, cp.Seq, held.Seq, ErrStale)
	}
	b.m[cp.Node] = cp
	return nil
}

// Get returns the checkpoint held for node.
func (b *CheckpointBook) Get(node string) (Checkpoint, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cp, ok := b.m[node]
	return cp, ok
}
