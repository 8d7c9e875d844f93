package chunker

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
)

func TestReaderConcurrentReadAt(t *testing.T) {
	ctx := t.Context()
	data := randBytes(11, 3<<20+17)
	st := newMemStore()
	res, err := ImportFile(ctx, st, bytes.NewReader(data), int64(len(data)), "f.bin", Options{Strategy: Fixed, FixedSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(ctx, st, res.CID)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 10000+g)
			for off := int64(g * 977); off+int64(len(buf)) <= int64(len(data)); off += 200003 {
				if n, err := r.ReadAt(buf, off); n != len(buf) || err != nil || !bytes.Equal(buf, data[off:off+int64(n)]) {
					t.Errorf("ReadAt(%d bytes, %d) = %d, %v, or wrong bytes", len(buf), off, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestRepeatedChunks(t *testing.T) {
	ctx := t.Context()
	data := make([]byte, 10<<20) // zeros: every CDC chunk is the same max-size chunk
	st := newMemStore()
	res, err := ImportFile(ctx, st, bytes.NewReader(data), int64(len(data)), "zeros.bin", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocks) != 2 {
		t.Errorf("Blocks = %d, want 2 (one distinct leaf, one file node)", len(res.Blocks))
	}
	if want := st.bytes(); res.NewBytes != want || want > MaxBlockSize+4096 {
		t.Errorf("NewBytes = %d, store holds %d, want about one 1 MiB leaf", res.NewBytes, want)
	}
	again, err := ImportFile(ctx, st, bytes.NewReader(data), int64(len(data)), "zeros.bin", Options{})
	if err != nil || again.NewBytes != 0 || again.CID != res.CID {
		t.Errorf("second import = %s, NewBytes %d, %v; want %s, 0", again.CID, again.NewBytes, err, res.CID)
	}
}

func TestMissingBlock(t *testing.T) {
	ctx := t.Context()
	data := randBytes(12, 2<<20)
	st := newMemStore()
	res, err := ImportFile(ctx, st, bytes.NewReader(data), int64(len(data)), "f.bin", Options{Strategy: Fixed})
	if err != nil {
		t.Fatal(err)
	}
	lost := res.Blocks[3]
	delete(st.m, lost)
	err = Walk(ctx, st, res.CID, func(cid.Cid, blockT) error { return nil })
	if err == nil || !strings.Contains(err.Error(), lost.String()) {
		t.Errorf("Walk with a missing block = %v, want an error naming %s", err, lost)
	}
	r, err := NewReader(ctx, st, res.CID)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(data))
	if _, err := r.ReadAt(buf, 0); err == nil || !strings.Contains(err.Error(), lost.String()) {
		t.Errorf("ReadAt over a missing block = %v, want an error naming %s", err, lost)
	}
}
