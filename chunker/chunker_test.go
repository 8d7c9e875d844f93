package chunker

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/manifest"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	bchunk "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	balancedlayout "github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	h "github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// kuboCID imports data with boxo's own balanced importer configured like
// `ipfs add --raw-leaves --cid-version=1 --chunker=size-N`.
func kuboCID(t *testing.T, data []byte, chunk int64) cid.Cid {
	t.Helper()
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	dag := merkledag.NewDAGService(blockservice.New(bs, nil))
	p := h.DagBuilderParams{Maxlinks: h.DefaultLinksPerBlock, RawLeaves: true, CidBuilder: merkledag.V1CidPrefix(), Dagserv: dag}
	db, err := p.New(bchunk.NewSizeSplitter(bytes.NewReader(data), chunk))
	if err != nil {
		t.Fatal(err)
	}
	nd, err := balancedlayout.Layout(db)
	if err != nil {
		t.Fatal(err)
	}
	return nd.Cid()
}

func TestKuboCompatibleDAG(t *testing.T) {
	const chunk = 256
	for _, size := range []int{0, 1, chunk, chunk + 1, MaxLinks * chunk, MaxLinks*chunk + 1, MaxLinks*MaxLinks*chunk + 3*chunk + 7} {
		data := randBytes(uint64(size), size)
		st := newMemStore()
		res, err := ImportFile(t.Context(), st, bytes.NewReader(data), int64(size), "x.bin", Options{Strategy: Fixed, FixedSize: chunk})
		if err != nil {
			t.Fatalf("ImportFile(%d bytes): %v", size, err)
		}
		if want := kuboCID(t, data, chunk); res.CID != want {
			t.Errorf("ImportFile(%d bytes).CID = %s, want %s (boxo balanced importer)", size, res.CID, want)
		}
		if res.SHA256 != sha256.Sum256(data) {
			t.Errorf("ImportFile(%d bytes).SHA256 wrong", size)
		}
		if want := manifest.GitBlobID(data); res.BlobID != want {
			t.Errorf("ImportFile(%d bytes).BlobID = %s, want %s", size, res.BlobID, want)
		}
		if res.NewBytes != st.bytes() {
			t.Errorf("ImportFile(%d bytes).NewBytes = %d, want %d stored", size, res.NewBytes, st.bytes())
		}
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		size int
		opts Options
	}{
		{"cdc-small", 100, Options{}},
		{"cdc", 5<<20 + 12345, Options{}},
		{"fixed", 3<<20 + 1, Options{Strategy: Fixed, FixedSize: 4096}},
		{"cdc-deep", 2<<20 + 99, Options{MinSize: 256, AvgSize: 1024, MaxSize: 4096}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randBytes(7, tc.size)
			st := newMemStore()
			res, err := ImportFile(ctx, st, bytes.NewReader(data), int64(len(data)), "f.bin", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Size != int64(len(data)) || res.SHA256 != sha256.Sum256(data) {
				t.Fatalf("ImportFile = size %d sha %x, want %d %x", res.Size, res.SHA256, len(data), sha256.Sum256(data))
			}
			r, err := NewReader(ctx, st, res.CID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Size() != int64(len(data)) {
				t.Fatalf("Size() = %d, want %d", r.Size(), len(data))
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("ReadAll = %d bytes, %v; want the %d bytes imported", len(got), err, len(data))
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range 200 {
				off := rng.Int64N(int64(len(data)))
				n := rng.IntN(3 << 20)
				buf := make([]byte, n)
				k, err := r.ReadAt(buf, off)
				want := min(int64(n), int64(len(data))-off)
				if int64(k) != want || !bytes.Equal(buf[:k], data[off:off+want]) {
					t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; want %d matching bytes", n, off, k, err, want)
				}
				if (err == io.EOF) != (int64(n) > want) || (err != nil && err != io.EOF) {
					t.Fatalf("ReadAt(%d bytes, %d) err = %v", n, off, err)
				}
			}
			if _, err := r.Seek(-10, io.SeekEnd); err != nil {
				t.Fatal(err)
			}
			tail, _ := io.ReadAll(r)
			if want := data[max(0, len(data)-10):]; !bytes.Equal(tail, want) {
				t.Errorf("read after Seek(-10, End) = %x, want %x", tail, want)
			}
			// Walk visits exactly the blocks ImportFile reported.
			var walked []cid.Cid
			err = Walk(ctx, st, res.CID, func(c cid.Cid, b blocks.Block) error {
				walked = append(walked, c)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !sameSet(walked, res.Blocks) {
				t.Errorf("Walk visited %d blocks, ImportFile reported %d", len(walked), len(res.Blocks))
			}
			if walked[0] != res.CID {
				t.Errorf("Walk visited %s first, want the root %s", walked[0], res.CID)
			}
		})
	}
}

func sameSet(a, b []cid.Cid) bool {
	m := map[cid.Cid]int{}
	for _, c := range a {
		m[c]++
	}
	for _, c := range b {
		m[c]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestSafetensorsChunking(t *testing.T) {
	ts := modelTensors(1, 12, 2000)
	file := buildSafetensors(t, ts, map[string]string{"format": "pt"})
	info, err := parseSafetensors(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	starts := chunkStarts(t, &planSplit{bounds: info.plan(int64(len(file)), MaxBlockSize)}, file)
	if !contains(starts, info.header) {
		t.Errorf("no chunk starts at the data section %d", info.header)
	}
	for _, tr := range info.tensors {
		for off := tr.begin; off < tr.end; off += MaxBlockSize {
			if !contains(starts, off) {
				t.Errorf("tensor %s: no chunk starts at %d", tr.name, off)
			}
		}
	}
}

func TestDedupTensorAware(t *testing.T) {
	ctx := t.Context()
	a, b := dedupPair(t, 30, 700)
	for _, tc := range []struct {
		name string
		opts Options
		max  float64 // 0: reported only
	}{
		{"tensor-aware", Options{}, 0.11},
		{"cdc", Options{Strategy: CDC}, 0},
		{"fixed-256k", Options{Strategy: Fixed}, 0},
	} {
		st := newMemStore()
		if _, err := ImportFile(ctx, st, bytes.NewReader(a), int64(len(a)), "a.safetensors", tc.opts); err != nil {
			t.Fatal(err)
		}
		res, err := ImportFile(ctx, st, bytes.NewReader(b), int64(len(b)), "b.safetensors", tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		frac := float64(res.NewBytes) / float64(len(b))
		t.Logf("%s: new bytes of the second file %.2f%% of %d", tc.name, 100*frac, len(b))
		if tc.max > 0 && frac > tc.max {
			t.Errorf("%s: new bytes = %.2f%%, want <= %.0f%%", tc.name, 100*frac, 100*tc.max)
		}
	}
}

// dedupPair returns two safetensors files of the same n tensors; the second
// changes every tenth tensor and adds a metadata entry (every offset shifts).
func dedupPair(t testing.TB, n, scale int) ([]byte, []byte) {
	// Tensors of one size (above MaxBlockSize, so sub-chunked), so that 10%
	// of the tensors are 10% of the bytes.
	ts := modelTensors(2, n, 1)
	for i := range ts {
		ts[i].shape = []uint64{uint64(scale), 512}
		ts[i].data = randBytes(uint64(2000+i), scale*512*4)
	}
	a := buildSafetensors(t, ts, map[string]string{"format": "pt"})
	ts2 := append([]stTensorSpec(nil), ts...)
	for i := 0; i < len(ts2); i += 10 {
		ts2[i].data = randBytes(uint64(99000+i), len(ts2[i].data))
	}
	b := buildSafetensors(t, ts2, map[string]string{"format": "pt", "fine_tuned_by": "cairn-test"})
	return a, b
}

func TestMalformedSafetensors(t *testing.T) {
	good := buildSafetensors(t, modelTensors(3, 2, 4), nil)
	hdrLen := func(n uint64) []byte {
		b := bytes.Clone(good)
		for i := range 8 {
			b[i] = byte(n >> (8 * i))
		}
		return b
	}
	withHeader := func(js string, data int) []byte {
		for len(js)%8 != 0 {
			js += " "
		}
		b := []byte{byte(len(js)), byte(len(js) >> 8), 0, 0, 0, 0, 0, 0}
		b = append(b, js...)
		return append(b, make([]byte, data)...)
	}
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"short", good[:5], "shorter than"},
		{"huge header length", hdrLen(1 << 40), "header length"},
		{"header past end", hdrLen(uint64(len(good))), "header length"},
		{"not json", withHeader("{nope", 0), "JSON"},
		{"unknown dtype", withHeader(`{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,2]}}`, 2), "dtype"},
		{"offsets past end", withHeader(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, 4), "outside"},
		{"shape mismatch", withHeader(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), "needs"},
		{"overlap", withHeader(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, 6), "overlap"},
		{"shape overflow", withHeader(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 8), "overflow"},
		{"three offsets", withHeader(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4,8]}}`, 8), "data_offsets"},
		{"no offsets", withHeader(`{"a":{"dtype":"U8","shape":[4]}}`, 8), "data_offsets"},
		{"bad metadata", withHeader(`{"__metadata__":{"a":1}}`, 0), "__metadata__"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ImportFile(t.Context(), newMemStore(), bytes.NewReader(tc.file), int64(len(tc.file)), "model.safetensors", Options{})
			if err == nil {
				t.Fatalf("ImportFile = nil error, want one mentioning %q", tc.want)
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "model.safetensors") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ImportFile error = %q, want ErrFormat naming the file and %q", err, tc.want)
			}
		})
	}
}

func TestReaderRejectsNonFile(t *testing.T) {
	ctx := t.Context()
	st := newMemStore()
	res, err := ImportFile(ctx, st, bytes.NewReader([]byte("hello")), 5, "a.txt", Options{})
	if err != nil {
		t.Fatal(err)
	}
	root, _, err := BuildDir(ctx, st, []DirEntry{{Path: "a.txt", CID: res.CID, Size: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewReader(ctx, st, root); err == nil {
		t.Errorf("NewReader(directory) = nil error, want one")
	}
}
