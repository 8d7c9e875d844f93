package chunker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"
)

// intoStore is a memStore that also reads into the caller's buffer and,
// like the badger store with verification on, checks every block it hands
// out against its CID. active counts ReadInto calls under way.
type intoStore struct {
	*memStore
	active atomic.Int64
	reads  atomic.Int64
}

var errMismatch = errors.New("block does not match its CID")

func (s *intoStore) ReadInto(ctx context.Context, c cid.Cid, buf []byte) (int, error) {
	s.active.Add(1)
	defer s.active.Add(-1)
	s.reads.Add(1)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	d, ok := s.m[c]
	s.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("block %s not found", c)
	}
	if len(d) > len(buf) {
		return 0, io.ErrShortBuffer
	}
	n := copy(buf, d)
	if got, err := c.Prefix().Sum(buf[:n]); err != nil || !got.Equals(c) {
		return 0, fmt.Errorf("block %s: %w", c, errMismatch)
	}
	return n, nil
}

// rangeFile is a file imported for the WriteRange tests.
type rangeFile struct {
	name string
	data []byte
	root cid.Cid
	st   *memStore
}

func rangeFiles(t *testing.T) []rangeFile {
	t.Helper()
	var out []rangeFile
	for _, tc := range []struct {
		name string
		data []byte
		o    Options
	}{
		{"fixed 4 KiB, two levels", randBytes(21, 3<<20+17), Options{Strategy: Fixed, FixedSize: 4096}},
		{"CDC", randBytes(22, 9<<20+5), Options{}},
		{"one leaf", randBytes(23, 1000), Options{}},
		{"empty", nil, Options{}},
	} {
		st := newMemStore()
		res, err := ImportFile(t.Context(), st, bytes.NewReader(tc.data), int64(len(tc.data)), "f.bin", tc.o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rangeFile{tc.name, tc.data, res.CID, st})
	}
	// A file node holding its bytes inline, with no children.
	data := randBytes(24, 3000)
	nd := merkledag.NodeWithData(ft.FilePBData(data, uint64(len(data))))
	if err := nd.SetCidBuilder(dagPrefix); err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	st.m[nd.Cid()] = nd.RawData()
	return append(out, rangeFile{"inline", data, nd.Cid(), st})
}

// ranges are the ranges tried on a file of size bytes: whole, edges, and
// random ones starting mid-leaf.
func ranges(size int64, seed uint64) [][2]int64 {
	out := [][2]int64{{0, size}}
	if size == 0 {
		return out
	}
	out = append(out, [2]int64{0, 1}, [2]int64{size - 1, 1}, [2]int64{size / 2, size - size/2}, [2]int64{size/3 + 1, 0})
	r := rand.New(rand.NewPCG(seed, 1))
	for range 20 {
		off := r.Int64N(size)
		out = append(out, [2]int64{off, r.Int64N(size-off) + 1})
	}
	return out
}

func TestWriteRange(t *testing.T) {
	for _, f := range rangeFiles(t) {
		for _, into := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/into=%v", f.name, into), func(t *testing.T) {
				var get Getter = f.st
				is := &intoStore{memStore: f.st}
				if into {
					get = is
				}
				r, err := NewReader(t.Context(), get, f.root)
				if err != nil {
					t.Fatal(err)
				}
				for _, rg := range ranges(int64(len(f.data)), uint64(len(f.data))) {
					var out bytes.Buffer
					n, err := r.WriteRange(t.Context(), &out, rg[0], rg[1])
					want := f.data[rg[0] : rg[0]+rg[1]]
					if err != nil || n != rg[1] || !bytes.Equal(out.Bytes(), want) {
						t.Fatalf("WriteRange(%d, %d) = %d, %v, equal %v", rg[0], rg[1], n, err, bytes.Equal(out.Bytes(), want))
					}
				}
				if into && len(f.data) > 0 && f.root.Type() != cid.DagProtobuf && is.reads.Load() == 0 {
					t.Error("no block was read with ReadInto")
				}
				if _, err := r.WriteRange(t.Context(), io.Discard, int64(len(f.data)), 1); err == nil {
					t.Error("WriteRange past the end = nil error")
				}
			})
		}
	}
}

// TestReadAtInto reads with ReadAt through a reading-into Getter: leaves
// read whole straight into the caller's buffer, partial ones through the
// kept leaves, from many goroutines at once.
func TestReadAtInto(t *testing.T) {
	f := rangeFiles(t)[1]
	is := &intoStore{memStore: f.st}
	r, err := NewReader(t.Context(), is, f.root)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, rg := range ranges(int64(len(f.data)), uint64(g)) {
				buf := make([]byte, rg[1])
				if n, err := r.ReadAt(buf, rg[0]); n != len(buf) || (err != nil && err != io.EOF) || !bytes.Equal(buf, f.data[rg[0]:rg[0]+rg[1]]) {
					t.Errorf("goroutine %d, range %d: ReadAt(%d bytes, %d) = %d, %v, or wrong bytes", g, i, len(buf), rg[0], n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Small sequential reads: every leaf is read once, then kept.
	r, err = NewReader(t.Context(), is, f.root)
	if err != nil {
		t.Fatal(err)
	}
	before := is.reads.Load()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, f.data) {
		t.Fatalf("ReadAll = %d bytes, %v", len(got), err)
	}
	leaves := 0
	if err := Leaves(t.Context(), f.st, f.root, func(cid.Cid, int64) error { leaves++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n := is.reads.Load() - before; n != int64(leaves) {
		t.Errorf("sequential small reads read %d leaves, want each of the %d once", n, leaves)
	}
}

// A leaf that does not match its CID: nothing of it, nor anything after
// it, is written; what is written is right; every read under way has ended
// when WriteRange returns.
func TestWriteRangeBadLeaf(t *testing.T) {
	f := rangeFiles(t)[1]
	var leaves []cid.Cid
	var starts []int64
	var pos int64
	if err := Leaves(t.Context(), f.st, f.root, func(c cid.Cid, n int64) error {
		leaves, starts = append(leaves, c), append(starts, pos)
		pos += n
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(leaves) < 10 {
		t.Fatalf("%d leaves, want at least 10", len(leaves))
	}
	k := len(leaves) * 2 / 3
	bad := leaves[k]
	rot := bytes.Clone(f.st.m[bad])
	rot[len(rot)/2] ^= 1
	f.st.m[bad] = rot
	is := &intoStore{memStore: f.st}
	r, err := NewReader(t.Context(), is, f.root)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, starts[k/2] + 777, starts[k] - 5, starts[k] + 5} {
		var out bytes.Buffer
		n, err := r.WriteRange(t.Context(), &out, off, int64(len(f.data))-off)
		if !errors.Is(err, errMismatch) || !strings.Contains(err.Error(), bad.String()) {
			t.Errorf("WriteRange from %d over a bad leaf = %v, want the mismatch naming %s", off, err, bad)
		}
		if n != int64(out.Len()) || off+n > max(starts[k], off) || !bytes.Equal(out.Bytes(), f.data[off:off+n]) {
			t.Errorf("WriteRange from %d wrote %d bytes (reported %d), bad leaf at %d: want a right prefix ending before it", off, out.Len(), n, starts[k])
		}
		if a := is.active.Load(); a != 0 {
			t.Errorf("WriteRange returned with %d reads under way", a)
		}
	}
	// A range that ends before the bad leaf is served whole.
	var out bytes.Buffer
	if n, err := r.WriteRange(t.Context(), &out, 10, starts[k]-10); err != nil || !bytes.Equal(out.Bytes(), f.data[10:starts[k]]) {
		t.Errorf("WriteRange before the bad leaf = %d, %v", n, err)
	}
}

// failWriter fails after its first write.
type failWriter struct{ n int }

var errWrite = errors.New("peer went away")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n++; w.n > 1 {
		return 0, errWrite
	}
	return len(p), nil
}

func TestWriteRangeWriterFails(t *testing.T) {
	f := rangeFiles(t)[1]
	is := &intoStore{memStore: f.st}
	r, err := NewReader(t.Context(), is, f.root)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.WriteRange(t.Context(), &failWriter{}, 0, int64(len(f.data)))
	if !errors.Is(err, errWrite) || n == 0 || n >= int64(len(f.data)) {
		t.Errorf("WriteRange to a writer failing on its second write = %d, %v; want part, %v", n, err, errWrite)
	}
	if a := is.active.Load(); a != 0 {
		t.Errorf("WriteRange returned with %d reads under way", a)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.WriteRange(ctx, io.Discard, 0, int64(len(f.data))); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteRange with a cancelled context = %v, want context.Canceled", err)
	}
}

// FuzzFileNode reads a file whose root node is the fuzzed bytes (children
// from a small imported file) with ReadAt and with WriteRange: neither
// panics nor makes a buffer bigger than a block, and when both succeed
// they give the same bytes.
func FuzzFileNode(f *testing.F) {
	data := randBytes(31, 20000)
	base := newMemStore()
	res, err := ImportFile(context.Background(), base, bytes.NewReader(data), int64(len(data)), "f.bin", Options{Strategy: Fixed, FixedSize: 4096})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(base.m[res.CID], int64(0), int64(len(data)))
	f.Add(base.m[res.CID], int64(4095), int64(2))
	f.Add(merkledag.NodeWithData(ft.FilePBData([]byte("inline"), 6)).RawData(), int64(1), int64(3))
	f.Fuzz(func(t *testing.T, node []byte, off, n int64) {
		root, err := dagPrefix.Sum(node)
		if err != nil {
			t.Fatal(err)
		}
		st := &intoStore{memStore: newMemStore()}
		for c, d := range base.m {
			st.m[c] = d
		}
		st.m[root] = node
		r, err := NewReader(t.Context(), st, root)
		if err != nil || r.Size() > 1<<20 {
			return
		}
		off, n = max(off, 0)%(r.Size()+1), max(n, 0)%(r.Size()+1)
		n = min(n, r.Size()-off)
		buf := make([]byte, n)
		k, rerr := r.ReadAt(buf, off)
		var out bytes.Buffer
		w, werr := r.WriteRange(t.Context(), &out, off, n)
		if w != int64(out.Len()) {
			t.Fatalf("WriteRange reported %d bytes, wrote %d", w, out.Len())
		}
		if (rerr == nil || rerr == io.EOF) && werr == nil && (int64(k) != n || !bytes.Equal(out.Bytes(), buf)) {
			t.Fatalf("ReadAt(%d, %d) = %d bytes, WriteRange = %d: they differ", n, off, k, w)
		}
	})
}
