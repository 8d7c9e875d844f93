package fetch

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"

	"github.com/ipfs/go-cid"
)

// HaveMode says what a have frame carries.
type HaveMode byte

const (
	// HaveAll: the server holds every block of the DAG (a full holder).
	HaveAll HaveMode = 0
	// HaveBits: a bitfield over the DAG's leaves (Leaves 0: the server is
	// fetching the DAG but does not know its leaves yet).
	HaveBits HaveMode = 1
	// HaveDelta: the leaves added since the generation the client named.
	HaveDelta HaveMode = 2
)

// Have is the body of a have frame: which leaves of a DAG a server holds,
// leaves numbered in depth-first order from 0 (as in KindLeaves).
type Have struct {
	Mode   HaveMode
	Gen    uint64   // the server's generation of its have-set
	Leaves int      // HaveBits, HaveDelta: leaves of the DAG
	Bits   []byte   // HaveBits: leaf i is bit i%8 (lowest first) of byte i/8
	Added  []uint32 // HaveDelta: leaf indexes, each below Leaves
}

var errHave = errors.New("bad have frame")

func appendHave(b []byte, h Have) ([]byte, error) {
	b = binary.AppendUvarint(b, h.Gen)
	b = append(b, byte(h.Mode))
	switch h.Mode {
	case HaveAll:
		return b, nil
	case HaveBits:
		if h.Leaves < 0 || h.Leaves > MaxHaveLeaves || len(h.Bits) != (h.Leaves+7)/8 {
			return nil, fmt.Errorf("have: %d leaves, %d bytes: %w", h.Leaves, len(h.Bits), errHave)
		}
		b = binary.AppendUvarint(b, uint64(h.Leaves))
		return append(b, h.Bits...), nil
	case HaveDelta:
		if h.Leaves < 0 || h.Leaves > MaxHaveLeaves || len(h.Added) > MaxHaveDelta {
			return nil, fmt.Errorf("have: delta of %d over %d leaves: %w", len(h.Added), h.Leaves, errHave)
		}
		b = binary.AppendUvarint(b, uint64(h.Leaves))
		b = binary.AppendUvarint(b, uint64(len(h.Added)))
		for _, i := range h.Added {
			if int(i) >= h.Leaves {
				return nil, fmt.Errorf("have: leaf %d of %d: %w", i, h.Leaves, errHave)
			}
			b = binary.AppendUvarint(b, uint64(i))
		}
		return b, nil
	}
	return nil, fmt.Errorf("have: mode %d: %w", h.Mode, errHave)
}

// readHave decodes a have body. It allocates at most MaxHaveLeaves/8
// bytes for a bitfield, and a delta's slice grows only as indexes arrive.
func readHave(r *bufio.Reader) (Have, error) {
	var h Have
	var err error
	if h.Gen, err = binary.ReadUvarint(r); err != nil {
		return h, fmt.Errorf("have generation: %w", noEOF(err))
	}
	m, err := r.ReadByte()
	if err != nil {
		return h, fmt.Errorf("have mode: %w", noEOF(err))
	}
	h.Mode = HaveMode(m)
	if h.Mode == HaveAll {
		return h, nil
	}
	if h.Mode != HaveBits && h.Mode != HaveDelta {
		return h, fmt.Errorf("have mode %d: %w", m, errHave)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return h, fmt.Errorf("have leaves: %w", noEOF(err))
	}
	if n > MaxHaveLeaves {
		return h, fmt.Errorf("have: %d leaves: %w", n, errTooLarge)
	}
	h.Leaves = int(n)
	if h.Mode == HaveBits {
		h.Bits = make([]byte, (h.Leaves+7)/8)
		if _, err := io.ReadFull(r, h.Bits); err != nil {
			return h, fmt.Errorf("have bits: %w", noEOF(err))
		}
		// Bits past the last leaf must be clear: one encoding per set.
		if pad := h.Leaves % 8; pad != 0 && h.Bits[len(h.Bits)-1]>>pad != 0 {
			return h, fmt.Errorf("have: bits set past leaf %d: %w", h.Leaves, errHave)
		}
		return h, nil
	}
	k, err := binary.ReadUvarint(r)
	if err != nil {
		return h, fmt.Errorf("have delta count: %w", noEOF(err))
	}
	if k > MaxHaveDelta {
		return h, fmt.Errorf("have: delta of %d: %w", k, errTooLarge)
	}
	h.Added = make([]uint32, 0, min(k, 1024))
	for range k {
		i, err := binary.ReadUvarint(r)
		if err != nil {
			return h, fmt.Errorf("have delta: %w", noEOF(err))
		}
		if i >= n {
			return h, fmt.Errorf("have: leaf %d of %d: %w", i, n, errHave)
		}
		h.Added = append(h.Added, uint32(i))
	}
	return h, nil
}

// HaveSet is what a node holds of one DAG it is fetching: a bitfield over
// the DAG's leaves, set as blocks are verified and stored, and the order
// they came in (so a peer that saw generation g is sent only what came
// after). Its generation counts changes: 0 until the leaves are known,
// then 1 plus the leaves added, one more once complete.
type HaveSet struct {
	mu      sync.Mutex
	leaves  int // -1 until known
	bits    []uint64
	log     []uint32 // leaves in the order they were added
	full    bool
	changed chan struct{} // closed and replaced on every change
	// asked: a peer asked about the DAG (Asked); until then no recent
	// blocks are kept. recent holds the bytes of the blocks stored last
	// (by multihash), at most recentBytes, oldest first in order.
	asked       bool
	recent      map[string][]byte
	recentOrder []string
	recentSize  int
}

// recentBytes bounds the block bytes a have-set keeps of the blocks it
// recorded last. In a swarm a partial holder is asked mostly for what it
// got last (the rarest blocks), by many peers within a second or two;
// serving those from memory spares each copy a store read and the hash
// check of that read (a third of a swarm's CPU, measured by
// BenchmarkSwarm).
const recentBytes = 32 << 20

func newHaveSet() *HaveSet { return &HaveSet{leaves: -1, changed: make(chan struct{})} }

func (s *HaveSet) bump() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *HaveSet) gen() uint64 {
	switch {
	case s.full:
		return uint64(len(s.log)) + 2
	case s.leaves < 0:
		return 0
	}
	return uint64(len(s.log)) + 1
}

// SetLeaves fixes the number of leaves; it fails when a different number
// was set before.
func (s *HaveSet) SetLeaves(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leaves == n {
		return nil
	}
	if s.leaves >= 0 || n < 0 || n > MaxHaveLeaves {
		return fmt.Errorf("have-set: %d leaves, had %d", n, s.leaves)
	}
	s.leaves = n
	s.bits = make([]uint64, (n+63)/64)
	s.bump()
	return nil
}

// Add records that leaf i is stored; it reports whether i was new.
func (s *HaveSet) Add(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full || i < 0 || i >= s.leaves || s.bits[i/64]&(1<<(i%64)) != 0 {
		return false
	}
	s.bits[i/64] |= 1 << (i % 64)
	s.log = append(s.log, uint32(i))
	s.bump()
	return true
}

// Asked records that a peer asked about the DAG (probed it, asked for
// its have-set or its blocks): from now on AddBlock keeps recent blocks.
// A node fetching alone keeps none, so its heap (and the fresh memory
// pages it costs) stays small. Safe on a nil set.
func (s *HaveSet) Asked() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.asked = true
	s.mu.Unlock()
}

// AddBlock records leaf i like Add and, once a peer asked about the DAG,
// keeps its bytes (verified against c) among the recent blocks, which the
// server sends without reading its store. data must not be modified
// afterwards.
func (s *HaveSet) AddBlock(i int, c cid.Cid, data []byte) bool {
	if !s.Add(i) {
		return false
	}
	if len(data) > recentBytes/4 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full || !s.asked {
		return true
	}
	if s.recent == nil {
		s.recent = make(map[string][]byte)
	}
	k := string(c.Hash())
	if _, ok := s.recent[k]; ok {
		return true
	}
	s.recent[k] = data
	s.recentOrder = append(s.recentOrder, k)
	s.recentSize += len(data)
	for s.recentSize > recentBytes {
		old := s.recentOrder[0]
		s.recentOrder = s.recentOrder[1:]
		s.recentSize -= len(s.recent[old])
		delete(s.recent, old)
	}
	return true
}

// Recent returns the bytes of block c when it is among the recent
// blocks, else nil. The caller must not modify them.
func (s *HaveSet) Recent(c cid.Cid) []byte {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recent[string(c.Hash())]
}

// Has says whether leaf i is recorded.
func (s *HaveSet) Has(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full || i >= 0 && i < s.leaves && s.bits[i/64]&(1<<(i%64)) != 0
}

// Complete marks every block held: the set answers "all" from now on.
func (s *HaveSet) Complete() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.full {
		s.full = true
		s.recent, s.recentOrder, s.recentSize = nil, nil, 0
		s.bump()
	}
}

// Count returns the leaves recorded and the leaves of the DAG (-1 when
// not known yet); a complete set counts all.
func (s *HaveSet) Count() (have, leaves int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return max(s.leaves, 0), s.leaves
	}
	n := 0
	for _, w := range s.bits {
		n += bits.OnesCount64(w)
	}
	return n, s.leaves
}

// Full says whether the set is complete.
func (s *HaveSet) Full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full
}

// Snapshot encodes the set for a peer that applied generation since: the
// leaves added after it when that is smaller than the bitfield.
func (s *HaveSet) Snapshot(since uint64) Have {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gen()
	if s.full {
		return Have{Mode: HaveAll, Gen: g}
	}
	if s.leaves < 0 {
		return Have{Mode: HaveBits, Gen: g}
	}
	nbytes := (s.leaves + 7) / 8
	if since >= 1 && since <= g {
		added := s.log[since-1:]
		// A uvarint index takes up to 4 bytes below MaxHaveLeaves.
		if len(added) <= MaxHaveDelta && 3*len(added) < nbytes {
			return Have{Mode: HaveDelta, Gen: g, Leaves: s.leaves, Added: append([]uint32(nil), added...)}
		}
	}
	b := make([]byte, nbytes)
	for i := range b {
		b[i] = byte(s.bits[i/8] >> (8 * (i % 8)))
	}
	return Have{Mode: HaveBits, Gen: g, Leaves: s.leaves, Bits: b}
}

// Wait returns when the set's generation differs from since, or ctx
// ends.
func (s *HaveSet) Wait(ctx context.Context, since uint64) {
	s.mu.Lock()
	if s.gen() != since {
		s.mu.Unlock()
		return
	}
	ch := s.changed
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// Haves is a node's record of the DAGs it is fetching, shared by its
// Client (which records blocks as they are stored) and its Server (which
// answers have requests from it and serves what is recorded). The zero
// value is not usable; a nil *Haves records nothing.
type Haves struct {
	mu sync.Mutex
	m  map[string]*HaveSet
}

// NewHaves returns an empty record.
func NewHaves() *Haves { return &Haves{m: make(map[string]*HaveSet)} }

// Track starts (or returns) the have-set of root. A node tracks a root as
// soon as it decides to fetch it, before it says so to others: a probe
// of a tracked root is answered, so peers starting at once find each
// other.
func (h *Haves) Track(root cid.Cid) *HaveSet {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.m[root.KeyString()]
	if s == nil {
		s = newHaveSet()
		h.m[root.KeyString()] = s
	}
	return s
}

// Lookup returns root's have-set, or nil when root is not tracked.
func (h *Haves) Lookup(root cid.Cid) *HaveSet {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[root.KeyString()]
}

// Forget stops tracking root; its blocks stay in the store.
func (h *Haves) Forget(root cid.Cid) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, root.KeyString())
}

// Partial lists the tracked roots that are not complete.
func (h *Haves) Partial() []cid.Cid {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []cid.Cid
	for k, s := range h.m {
		if !s.Full() {
			c, err := cid.Cast([]byte(k))
			if err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
