package chunker

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// memStore is a map-backed Putter and Getter. It copies what it is given,
// as the badger store does.
type memStore struct {
	mu sync.Mutex
	m  map[cid.Cid][]byte
}

func newMemStore() *memStore { return &memStore{m: map[cid.Cid][]byte{}} }

func (s *memStore) Has(_ context.Context, c cid.Cid) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[c]
	return ok, nil
}

func (s *memStore) PutMany(_ context.Context, bs []blocks.Block) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range bs {
		s.m[b.Cid()] = bytes.Clone(b.RawData())
	}
	return nil
}

func (s *memStore) Get(_ context.Context, c cid.Cid) (blocks.Block, error) {
	s.mu.Lock()
	d, ok := s.m[c]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("block %s not found", c)
	}
	return blocks.NewBlockWithCid(d, c)
}

func (s *memStore) bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, d := range s.m {
		n += int64(len(d))
	}
	return n
}

// randBytes is deterministic pseudo-random content.
func randBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// stTensorSpec describes a tensor of a test safetensors file.
type stTensorSpec struct {
	name  string
	dtype string
	shape []uint64
	data  []byte
}

// buildSafetensors writes a safetensors file: header then tensor data in
// the given order.
func buildSafetensors(t testing.TB, tensors []stTensorSpec, meta map[string]string) []byte {
	t.Helper()
	hdr := map[string]any{}
	if meta != nil {
		hdr["__metadata__"] = meta
	}
	var off uint64
	for _, ts := range tensors {
		hdr[ts.name] = map[string]any{"dtype": ts.dtype, "shape": ts.shape, "data_offsets": []uint64{off, off + uint64(len(ts.data))}}
		off += uint64(len(ts.data))
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	out = append(out, js...)
	for _, ts := range tensors {
		out = append(out, ts.data...)
	}
	return out
}

// modelTensors makes n F32 tensors of varied sizes (some above 1 MiB).
func modelTensors(seed uint64, n int, scale int) []stTensorSpec {
	r := rand.New(rand.NewPCG(seed, 1))
	ts := make([]stTensorSpec, n)
	for i := range ts {
		rows := uint64(1 + r.IntN(scale))
		cols := uint64(64 + r.IntN(512))
		ts[i] = stTensorSpec{
			name:  fmt.Sprintf("model.layers.%d.weight", i),
			dtype: "F32",
			shape: []uint64{rows, cols},
			data:  randBytes(seed*1000+uint64(i), int(rows*cols*4)),
		}
	}
	return ts
}

// chunkStarts lists the chunk start offsets a splitter produces over data,
// feeding it in pieces of step bytes like the importer does.
func chunkStarts(t testing.TB, sp splitter, data []byte) []int64 {
	t.Helper()
	var starts []int64
	off := 0
	for off < len(data) {
		end := min(len(data), off+2*MaxBlockSize)
		n := sp.cut(int64(off), data[off:end], end == len(data))
		if n <= 0 || n > MaxBlockSize {
			t.Fatalf("cut at %d = %d", off, n)
		}
		starts = append(starts, int64(off))
		off += n
	}
	return starts
}

func contains(sorted []int64, x int64) bool {
	i := sort.Search(len(sorted), func(k int) bool { return sorted[k] >= x })
	return i < len(sorted) && sorted[i] == x
}

type (
	cidT   = cid.Cid
	blockT = blocks.Block
)
