package ingest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
)

func openStore(t testing.TB) *store.Store { return storetest.Open(t) }

// writeSafetensors writes a valid safetensors file of n float32 tensors of
// the given element count, filled from seed.
func writeSafetensors(t *testing.T, path string, n, elems int, seed uint64) {
	t.Helper()
	hdr := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	off := 0
	for i := range n {
		hdr[strings.Repeat("t", 1)+string(rune('a'+i))] = map[string]any{
			"dtype": "F32", "shape": []int{elems}, "data_offsets": []int{off, off + 4*elems},
		}
		off += 4 * elems
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint64(len(h)))
	buf.Write(h)
	r := rand.New(rand.NewPCG(seed, seed))
	data := make([]byte, off)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	buf.Write(data)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func modelDir(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"llama"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), bytes.Repeat([]byte("readme "), 50000), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "tokenizer.json"), []byte(`{"v":1}`), 0o644)
	os.WriteFile(filepath.Join(dir, "empty.txt"), nil, 0o644)
	writeSafetensors(t, filepath.Join(dir, "model.safetensors"), 4, 300_000, 1)
	return dir
}

func TestAddGetRoundTrip(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	dir := modelDir(t)
	res, err := Add(ctx, st, dir, AddOptions{Repo: "acme/tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(res.Manifest.Files), 5; got != want {
		t.Fatalf("files = %d, want %d", got, want)
	}
	if res.NewBytes == 0 || res.NewBytes > res.Bytes+1<<20 {
		t.Errorf("NewBytes = %d for %d bytes", res.NewBytes, res.Bytes)
	}
	st2, ok := res.Manifest.File("model.safetensors")
	if !ok || !st2.LFS {
		t.Errorf("model.safetensors LFS = %v (found %v), want true", st2.LFS, ok)
	}
	cfg, _ := res.Manifest.File("config.json")
	if want := manifest.GitBlobID([]byte(`{"model_type":"llama"}`)); cfg.BlobID != want || cfg.LFS {
		t.Errorf("config.json blob id = %s lfs=%v, want %s", cfg.BlobID, cfg.LFS, want)
	}

	m, err := st.Resolve(ctx, manifest.Model, "acme/tiny", "main")
	if err != nil {
		t.Fatal(err)
	}
	if m.Commit != res.Manifest.Commit {
		t.Fatalf("Resolve commit = %s, want %s", m.Commit, res.Manifest.Commit)
	}
	out := t.TempDir()
	if err := Get(ctx, st, m, m.Files, out, GetOptions{}); err != nil {
		t.Fatal(err)
	}
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	for _, f := range m.Files {
		want, _ := os.ReadFile(filepath.Join(dir, f.Path))
		got, err := os.ReadFile(filepath.Join(out, f.Path))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("get %s: %d bytes (err %v), want %d identical bytes", f.Path, len(got), err, len(want))
		}
		if fi, err := os.Stat(filepath.Join(out, f.Path)); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != os.FileMode(0o644&^umask) {
			t.Errorf("get %s: mode %v, want %v", f.Path, fi.Mode().Perm(), os.FileMode(0o644&^umask))
		}
	}
	assertNoPart(t, out)

	// Adding the same folder again stores nothing new and gives the same commit.
	again, err := Add(ctx, st, dir, AddOptions{Repo: "acme/tiny", Revision: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if again.NewBytes != 0 || again.Manifest.Commit != res.Manifest.Commit {
		t.Errorf("re-add: new bytes %d commit %s, want 0 and %s", again.NewBytes, again.Manifest.Commit, res.Manifest.Commit)
	}
	if probs, err := Verify(ctx, st, m); err != nil || len(probs) != 0 {
		t.Errorf("Verify = %v, %v; want no problems", probs, err)
	}
}

func TestVerifyFindsCorruptBlock(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	res, err := Add(ctx, st, modelDir(t), AddOptions{Repo: "acme/tiny"})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := res.Manifest.File("model.safetensors")
	var leaf cid.Cid
	err = chunker.Walk(ctx, st, f.CID, func(c cid.Cid, b blocks.Block) error {
		if c.Prefix().Codec == cid.Raw && !leaf.Defined() {
			leaf = c
		}
		return nil
	})
	if err != nil || !leaf.Defined() {
		t.Fatalf("no leaf found: %v", err)
	}
	b, _ := st.Get(ctx, leaf)
	bad := bytes.Clone(b.RawData())
	bad[len(bad)/2] ^= 0xff
	corrupt, _ := blocks.NewBlockWithCid(bad, leaf)
	if err := st.DeleteBlock(ctx, leaf); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, corrupt); err != nil {
		t.Fatal(err)
	}
	probs, err := Verify(ctx, st, res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 || !probs[0].Block.Equals(leaf) || probs[0].Path != "model.safetensors" {
		t.Fatalf("Verify = %v, want one problem at block %s of model.safetensors", probs, leaf)
	}
	// Get must refuse to write the corrupt file, and leave no part of it.
	out := t.TempDir()
	err = Get(ctx, st, res.Manifest, []manifest.File{f}, out, GetOptions{})
	if err == nil {
		t.Fatal("Get of a corrupt file succeeded")
	}
	assertNoPart(t, out)
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Get left model.safetensors behind: %v", err)
	}
}

func TestAddRejects(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	good := modelDir(t)
	if _, err := Add(ctx, st, good, AddOptions{Repo: "acme/tiny"}); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Refs(ctx, "", "")

	lying := t.TempDir()
	writeSafetensors(t, filepath.Join(lying, "model.safetensors"), 2, 1000, 2)
	raw, _ := os.ReadFile(filepath.Join(lying, "model.safetensors"))
	os.WriteFile(filepath.Join(lying, "model.safetensors"), raw[:len(raw)-100], 0o644) // data shorter than header says

	loop := t.TempDir()
	os.Mkdir(filepath.Join(loop, "a"), 0o755)
	os.Symlink("..", filepath.Join(loop, "a", "up"))

	dangling := t.TempDir()
	os.Symlink(filepath.Join(dangling, "nowhere"), filepath.Join(dangling, "x"))

	tests := []struct {
		name, path, repo, rev, want string
	}{
		{"lying safetensors", lying, "acme/tiny", "main", "model.safetensors"},
		{"symlink loop", loop, "acme/tiny", "main", "symlink loop"},
		{"dangling symlink", dangling, "acme/tiny", "main", "dangling"},
		{"missing path", filepath.Join(good, "nope"), "acme/tiny", "main", "nope"},
		{"bad repo", good, "../x", "main", "invalid repo name"},
		{"empty repo", good, "", "main", "invalid repo name"},
		{"long repo", good, "a/" + strings.Repeat("x", 200), "main", "invalid repo name"},
		{"bad revision", good, "acme/tiny", "a..b", "revision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Add(ctx, st, tt.path, AddOptions{Repo: tt.repo, Revision: tt.rev})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Add = %v, want error naming %q", err, tt.want)
			}
			after, _ := st.Refs(ctx, "", "")
			if len(after) != len(before) || after[0].Commit != before[0].Commit {
				t.Errorf("refs changed after failed add: %v, want %v", after, before)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	m := &manifest.Manifest{Repo: "a/b", Commit: strings.Repeat("0", 40), Files: []manifest.File{{Path: "a.json"}, {Path: "sub/x"}, {Path: "sub/y"}, {Path: "subway"}}}
	got, err := Select(m, []string{"sub"})
	if err != nil || len(got) != 2 {
		t.Errorf("Select(sub) = %v, %v; want sub/x, sub/y", got, err)
	}
	if _, err := Select(m, []string{"nope"}); err == nil {
		t.Error("Select(nope) succeeded")
	}
}
