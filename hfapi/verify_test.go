package hfapi

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// flipInPacks flips one byte in the middle of the stored copy of block,
// found by its bytes in the store's pack files: a bit rotted on disk.
func flipInPacks(t *testing.T, dir string, block []byte) {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(dir, "packs", "*.pack"))
	if err != nil || len(packs) == 0 {
		t.Fatalf("pack files in %s: %v, %v", dir, packs, err)
	}
	for _, p := range packs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, block)
		if i < 0 {
			continue
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt([]byte{block[len(block)/2] ^ 0x40}, int64(i+len(block)/2)); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("block of %d bytes not found in %d pack files", len(block), len(packs))
}

// A range request starting mid-file, over a block that rotted on disk a
// few MiB after the start: the block is found bad while it is read ahead
// of the writes (the store reports it before the client has read a byte
// of the body), no byte of it or after it reaches the client, what does
// arrive is right, and the transfer is cut.
func TestResolveReadAheadBadBlock(t *testing.T) {
	dir := t.TempDir()
	bad := make(chan cid.Cid, 4)
	st, err := store.Open(store.Options{Dir: dir, OnCorrupt: func(c cid.Cid) { bad <- c }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	content := safetensors(12<<20, 5)
	m := add(t, st, manifest.Model, "acme/rot", "main", map[string][]byte{"model.safetensors": content})
	mf, _ := m.File("model.safetensors")
	var leaves []cid.Cid
	var starts []int64
	var pos int64
	err = chunker.Leaves(t.Context(), st, mf.CID, func(c cid.Cid, n int64) error {
		leaves, starts = append(leaves, c), append(starts, pos)
		pos += n
		return nil
	})
	if err != nil || len(leaves) < 8 {
		t.Fatalf("leaves of %s: %d, %v; want at least 8", mf.CID, len(leaves), err)
	}
	s, err := New(st, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	url := hs.URL + "/acme/rot/resolve/main/model.safetensors"
	off := starts[2] + 1234
	rng := fmt.Sprintf("bytes=%d-", off)

	r := do(t, "GET", url, map[string]string{"Range": rng}, nil)
	if r.status != http.StatusPartialContent || !bytes.Equal(r.body, content[off:]) {
		t.Fatalf("GET %s before the fault = %d, %d bytes; want 206 and the file's bytes from %d", rng, r.status, len(r.body), off)
	}

	k := 5
	flipInPacks(t, dir, content[starts[k]:starts[k+1]])
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	req.Header.Set("Range", rng)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusPartialContent {
		t.Fatalf("GET %s after the fault = %d, want 206 (the header goes out before the blocks are read)", rng, res.StatusCode)
	}
	select {
	case c := <-bad:
		if !c.Equals(leaves[k]) {
			t.Fatalf("block reported bad = %s, want %s", c, leaves[k])
		}
	case <-t.Context().Done():
		t.Fatal("the bad block was never reported")
	}
	body, err := io.ReadAll(res.Body)
	if err == nil {
		t.Errorf("GET %s over a bad block = %d bytes and no error, want a cut transfer", rng, len(body))
	}
	if end := starts[k] - off; int64(len(body)) > end || !bytes.Equal(body, content[off:off+int64(len(body))]) {
		t.Errorf("GET %s over a bad block at %d delivered %d bytes: want a right prefix of at most %d", rng, starts[k], len(body), end)
	}
	if got, err := st.BadBlocks(t.Context()); err != nil || !slices.ContainsFunc(got, leaves[k].Equals) {
		t.Errorf("BadBlocks = %v, %v; want %s", got, err, leaves[k])
	}
	if s.Stats().Failed == 0 {
		t.Error("Stats().Failed = 0 after a cut transfer")
	}
	// A range that ends before the bad block is still served whole.
	hdr := map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, starts[k]-1)}
	if r := do(t, "GET", url, hdr, nil); r.status != http.StatusPartialContent || !bytes.Equal(r.body, content[off:starts[k]]) {
		t.Errorf("GET %s = %d, %d bytes; want 206 and the bytes before the bad block", hdr["Range"], r.status, len(r.body))
	}
}
