package chunker

import (
	"bytes"
	"context"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// countingGetter counts the raw leaves read through it.
type countingGetter struct {
	Getter
	rawReads int
}

func (g *countingGetter) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if c.Type() == cid.Raw {
		g.rawReads++
	}
	return g.Getter.Get(ctx, c)
}

func TestLeavesInOrderWithoutReadingThem(t *testing.T) {
	for _, size := range []int{0, 1000, 3 << 20, 200 * 64 << 10} {
		st := newMemStore()
		data := randBytes(uint64(size), size)
		// Fixed 64 KiB chunks: 200 leaves need two levels (174 links per node).
		res, err := ImportFile(t.Context(), st, bytes.NewReader(data), int64(len(data)), "f.bin", Options{Strategy: Fixed, FixedSize: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		g := &countingGetter{Getter: st}
		var got []byte
		var sum int64
		err = Leaves(t.Context(), g, res.CID, func(c cid.Cid, n int64) error {
			b, err := st.Get(t.Context(), c)
			if err != nil {
				return err
			}
			if n >= 0 && int64(len(b.RawData())) != n {
				t.Fatalf("size %d: leaf %s stated %d bytes, holds %d", size, c, n, len(b.RawData()))
			}
			sum += int64(len(b.RawData()))
			got = append(got, b.RawData()...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("size %d: leaves in order do not give the file back (%d of %d bytes)", size, sum, len(data))
		}
		if size > 1<<20 && g.rawReads != 0 {
			t.Fatalf("size %d: Leaves read %d raw leaves", size, g.rawReads)
		}

		var walked []cid.Cid
		if err := Walk(t.Context(), st, res.CID, func(c cid.Cid, _ blocks.Block) error {
			walked = append(walked, c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		g.rawReads = 0
		listed, err := CIDs(t.Context(), g, res.CID)
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != len(walked) {
			t.Fatalf("size %d: CIDs listed %d blocks, Walk %d", size, len(listed), len(walked))
		}
		for i := range listed {
			if listed[i] != walked[i] {
				t.Fatalf("size %d: block %d: CIDs %s, Walk %s", size, i, listed[i], walked[i])
			}
		}
		if size > 0 && g.rawReads != 0 {
			t.Fatalf("size %d: CIDs read %d raw leaves", size, g.rawReads)
		}
	}
}

func TestLeavesMissingNode(t *testing.T) {
	st := newMemStore()
	data := randBytes(7, 3<<20)
	res, err := ImportFile(t.Context(), st, bytes.NewReader(data), int64(len(data)), "f.bin", Options{Strategy: Fixed, FixedSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	empty := newMemStore()
	if err := Leaves(t.Context(), empty, res.CID, func(cid.Cid, int64) error { return nil }); err == nil {
		t.Fatal("Leaves of a DAG whose root is missing succeeded")
	}
}
