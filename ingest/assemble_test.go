package ingest

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// copyShuffled plays a fetch: it copies every block of m from src into
// dst, internal nodes first (as a fetch brings the structure first), the
// leaves in a shuffled order, telling a after each; skip names blocks it
// never copies.
func copyShuffled(t *testing.T, src, dst *store.Store, m *manifest.Manifest, a *Assembler, skip map[cid.Cid]bool) error {
	ctx := context.Background()
	all, err := chunker.CIDs(ctx, src, m.Root)
	if err != nil {
		return err
	}
	var nodes, leaves []cid.Cid
	for _, c := range all {
		if c.Type() == cid.Raw {
			leaves = append(leaves, c)
		} else {
			nodes = append(nodes, c)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(leaves), func(i, j int) { leaves[i], leaves[j] = leaves[j], leaves[i] })
	for _, c := range append(nodes, leaves...) {
		if skip[c] {
			continue
		}
		b, err := src.Get(ctx, c)
		if err != nil {
			return err
		}
		if err := dst.PutMany(ctx, []blocks.Block{b}); err != nil {
			return err
		}
		a.Block(c, b.RawData())
	}
	return nil
}

func TestAssembleWhileBlocksArrive(t *testing.T) {
	for _, window := range []int64{DefaultWindow, 1} { // 1: nothing kept, every leaf read back
		src, dst := openStore(t), openStore(t)
		res, err := Add(t.Context(), src, modelDir(t), AddOptions{Repo: "acme/tiny"})
		if err != nil {
			t.Fatal(err)
		}
		m := res.Manifest
		out := t.TempDir()
		a := NewAssembler(dst, m.Files, AssembleOptions{Out: out, Window: window})
		errc := make(chan error, 1)
		go func() {
			err := copyShuffled(t, src, dst, m, a, nil)
			a.FetchDone(err)
			errc <- err
		}()
		if err := a.Run(t.Context()); err != nil {
			t.Fatalf("window %d: %v", window, err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		umask := syscall.Umask(0)
		syscall.Umask(umask)
		for _, f := range m.Files {
			p := filepath.Join(out, filepath.FromSlash(f.Path))
			if ok, err := fileMatches(p, f); !ok {
				t.Fatalf("window %d: %s does not match the manifest: %v", window, f.Path, err)
			}
			fi, _ := os.Stat(p)
			if want := os.FileMode(0o644 &^ umask); fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v, want %v", f.Path, fi.Mode().Perm(), want)
			}
		}
		assertNoPart(t, out)
	}
}

func TestAssembleRefusesWrongContent(t *testing.T) {
	src, dst := openStore(t), openStore(t)
	res, err := Add(t.Context(), src, modelDir(t), AddOptions{Repo: "acme/tiny"})
	if err != nil {
		t.Fatal(err)
	}
	files := append([]manifest.File(nil), res.Manifest.Files...)
	for i := range files {
		if files[i].Path == "model.safetensors" {
			files[i].SHA256 = strings.Repeat("0", 64) // a manifest that lies
		}
	}
	out := t.TempDir()
	a := NewAssembler(dst, files, AssembleOptions{Out: out})
	go func() { a.FetchDone(copyShuffled(t, src, dst, res.Manifest, a, nil)) }()
	err = a.Run(t.Context())
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("Run = %v, want ErrMismatch naming model.safetensors", err)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); !os.IsNotExist(err) {
		t.Fatalf("a file whose sha256 did not match was written: %v", err)
	}
	assertNoPart(t, out)
}

func TestAssembleFetchEndsEarly(t *testing.T) {
	src, dst := openStore(t), openStore(t)
	res, err := Add(t.Context(), src, modelDir(t), AddOptions{Repo: "acme/tiny"})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := res.Manifest.File("model.safetensors")
	var missing cid.Cid
	chunker.Leaves(t.Context(), src, f.CID, func(c cid.Cid, _ int64) error {
		missing = c // the last leaf
		return nil
	})
	out := t.TempDir()
	a := NewAssembler(dst, res.Manifest.Files, AssembleOptions{Out: out})
	go func() {
		copyShuffled(t, src, dst, res.Manifest, a, map[cid.Cid]bool{missing: true})
		a.FetchDone(errors.New("no peer left to fetch from"))
	}()
	err = a.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "no peer left") || !strings.Contains(err.Error(), missing.String()) {
		t.Fatalf("Run = %v, want the missing block and the fetch's error", err)
	}
	assertNoPart(t, out)
}

func assertNoPart(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".part") {
			t.Errorf("%s left behind", p)
		}
		return nil
	})
}

// copyInOrder plays a fetch that offers every leaf to a.Check before it
// stores it, as fetch.Options.Check does: internal nodes first, then each
// file's leaves in order, each distinct leaf once. Before the good bytes
// of a leaf it offers a copy with one bit flipped, which a handled Check
// must refuse. It returns how many good leaves Check handled.
func copyInOrder(t *testing.T, src, dst *store.Store, m *manifest.Manifest, a *Assembler) (handled, leaves int) {
	ctx := context.Background()
	all, err := chunker.CIDs(ctx, src, m.Root)
	if err != nil {
		t.Error(err)
		return
	}
	put := func(c cid.Cid) []byte {
		b, err := src.Get(ctx, c)
		if err == nil {
			err = dst.PutMany(ctx, []blocks.Block{b})
		}
		if err != nil {
			t.Error(err)
			return nil
		}
		return b.RawData()
	}
	for _, c := range all {
		if c.Type() != cid.Raw {
			a.Block(c, put(c))
		}
	}
	// Check declines until Run has planned (read the internal nodes).
	for i := 0; i < 1000 && !a.planned(); i++ {
		time.Sleep(time.Millisecond)
	}
	seen := map[cid.Cid]bool{}
	for _, f := range m.Files {
		chunker.Leaves(ctx, src, f.CID, func(c cid.Cid, _ int64) error {
			if seen[c] {
				return nil
			}
			seen[c] = true
			leaves++
			b, _ := src.Get(ctx, c)
			if data := b.RawData(); len(data) > 0 {
				bad := append([]byte(nil), data...)
				bad[len(bad)/2] ^= 1
				if h, ok := a.Check(c, bad); h && ok {
					t.Errorf("Check took a corrupt copy of %s", c)
				}
			}
			if h, ok := a.Check(c, b.RawData()); h {
				if !ok {
					t.Errorf("Check refused the good bytes of %s", c)
				}
				handled++
			}
			a.Block(c, put(c))
			return nil
		})
	}
	return handled, leaves
}

// TestAssembleCheck: leaves checked by the Assembler on arrival (their
// CID and their file's sha256 in one pass) give the same files, and the
// in-order arrival lets it take nearly all of them.
func TestAssembleCheck(t *testing.T) {
	src, dst := openStore(t), openStore(t)
	res, err := Add(t.Context(), src, modelDir(t), AddOptions{Repo: "acme/tiny"})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	out := t.TempDir()
	a := NewAssembler(dst, m.Files, AssembleOptions{Out: out})
	errc := make(chan error, 1)
	go func() { errc <- a.Run(t.Context()) }()
	handled, leaves := copyInOrder(t, src, dst, m, a)
	a.FetchDone(nil)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if ok, err := fileMatches(filepath.Join(out, filepath.FromSlash(f.Path)), f); !ok {
			t.Fatalf("%s does not match the manifest: %v", f.Path, err)
		}
	}
	// Run may hash a leaf itself when it reaches it first; most arrive
	// ahead of it here.
	if handled < leaves/2 {
		t.Fatalf("Check handled %d of %d leaves arriving in order", handled, leaves)
	}
	t.Logf("Check handled %d of %d leaves", handled, leaves)

	// A lying manifest is caught with the hashing done by Check too.
	files := append([]manifest.File(nil), m.Files...)
	for i := range files {
		if files[i].Path == "model.safetensors" {
			files[i].SHA256 = strings.Repeat("0", 64)
		}
	}
	dst2, out2 := openStore(t), t.TempDir()
	a = NewAssembler(dst2, files, AssembleOptions{Out: out2})
	go func() { errc <- a.Run(t.Context()) }()
	copyInOrder(t, src, dst2, m, a)
	a.FetchDone(nil)
	if err := <-errc; !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("Run = %v, want ErrMismatch naming model.safetensors", err)
	}
}
