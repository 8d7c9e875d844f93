package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// testStore is a real store in a temporary folder, and the models folder
// beside it.
type testStore struct {
	*store.Store
	dir string
}

func openStore(t *testing.T) testStore {
	t.Helper()
	st, err := store.Open(store.Options{Dir: filepath.Join(t.TempDir(), "store")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return testStore{Store: st, dir: filepath.Join(t.TempDir(), "models")}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestModelsLocate(t *testing.T) {
	fixtureModel := fixture.Path(t, fixture.Model)
	n := openStore(t)
	ctx := t.Context()
	res, err := ingest.Add(ctx, n.Store, fixtureModel, ingest.AddOptions{Repo: "acme/stories"})
	if err != nil {
		t.Fatal(err)
	}
	// A repo with two GGUF files (the second one byte longer) and a
	// README; and a non-main revision.
	two := t.TempDir()
	fb, _ := os.ReadFile(fixtureModel)
	os.WriteFile(filepath.Join(two, "a.gguf"), fb, 0o644)
	os.WriteFile(filepath.Join(two, "b.gguf"), append(fb, 0), 0o644)
	os.WriteFile(filepath.Join(two, "README.md"), []byte("two models"), 0o644)
	if _, err := ingest.Add(ctx, n.Store, two, ingest.AddOptions{Repo: "acme/two"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.Add(ctx, n.Store, fixtureModel, ingest.AddOptions{Repo: "acme/stories", Revision: "v1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.Add(ctx, n.Store, filepath.Join(two, "README.md"), ingest.AddOptions{Repo: "acme/data", Kind: manifest.Dataset}); err != nil {
		t.Fatal(err)
	}

	ms := New(n.Store, n.dir, nil, nil)
	list, err := ms.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range list {
		ids = append(ids, e.ID)
		if e.OwnedBy != "acme" || e.Created.IsZero() {
			t.Errorf("entry %+v: want owner acme and a creation time", e)
		}
	}
	if got, want := strings.Join(ids, " "), "acme/stories acme/stories@v1 acme/two/a.gguf acme/two/b.gguf"; got != want {
		t.Errorf("List ids = %q, want %q", got, want)
	}

	f := res.Manifest.Files[0]
	path, err := ms.Locate(ctx, "acme/stories")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(n.dir, f.SHA256+".gguf"); path != want {
		t.Errorf("Locate = %s, want %s", path, want)
	}
	if got := fileSHA256(t, path); got != f.SHA256 {
		t.Errorf("materialised sha256 %s, manifest %s", got, f.SHA256)
	}
	st1, _ := os.Stat(path)

	for _, id := range []string{"acme/stories", "acme/stories@main", "acme/stories/stories260K.gguf", "acme/stories@v1", "acme/two/a.gguf"} {
		p, err := ms.Locate(ctx, id)
		if err != nil || p != path {
			t.Errorf("Locate(%q) = %s, %v; want %s (same content, reused)", id, p, err, path)
		}
	}
	if st2, _ := os.Stat(path); !os.SameFile(st1, st2) || !st2.ModTime().Equal(st1.ModTime()) {
		t.Error("the materialised file was written again")
	}
	if p, err := ms.Locate(ctx, "acme/two/b.gguf"); err != nil || p == path || fileSHA256(t, p) != strings.TrimSuffix(filepath.Base(p), ".gguf") {
		t.Errorf("Locate(acme/two/b.gguf) = %s, %v; want its own verified file", p, err)
	}

	for _, tt := range []struct{ id, want string }{
		{"acme/nope", "not in the store"},
		{"acme/stories@nope", "not in the store"},
		{"acme/stories/missing.gguf", "no file"},
		{"acme/two", "name one: acme/two/a.gguf, acme/two/b.gguf"},
		{"acme/two/README.md", "not a GGUF"},
		{"acme/data", "not in the store"},
		{"stories", "ORG/NAME"},
		{"acme/../x", "invalid"},
	} {
		_, err := ms.Locate(ctx, tt.id)
		if !errors.Is(err, openai.ErrModelNotFound) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Locate(%q) = %v; want ErrModelNotFound naming %q", tt.id, err, tt.want)
		}
	}

	// A damaged copy (wrong size) is replaced; concurrent callers share
	// one write and all get the verified file.
	if err := os.WriteFile(path, []byte("truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	paths := make([]string, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = ms.Locate(ctx, "acme/stories")
		}()
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil || paths[i] != path {
			t.Errorf("concurrent Locate %d = %s, %v", i, paths[i], errs[i])
		}
	}
	if got := fileSHA256(t, path); got != f.SHA256 {
		t.Errorf("after repair sha256 %s, want %s", got, f.SHA256)
	}
	// The same size with one byte changed (a bit rotted, an editor): the
	// stamp no longer matches, the file is hashed again and written anew,
	// never handed to the engine as it is.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := ms.Locate(ctx, "acme/stories"); err != nil || p != path || fileSHA256(t, path) != f.SHA256 {
		t.Errorf("Locate after a same-size corruption = %s, %v, sha256 %s; want the verified file", p, err, fileSHA256(t, path))
	}
	// Untouched since: not hashed again (the file is not rewritten).
	st3, _ := os.Stat(path)
	if p, err := ms.Locate(ctx, "acme/stories"); err != nil || p != path {
		t.Fatal(err)
	}
	if st4, _ := os.Stat(path); !os.SameFile(st3, st4) || !st4.ModTime().Equal(st3.ModTime()) {
		t.Error("an unchanged verified file was written again")
	}
	leftovers, _ := filepath.Glob(filepath.Join(n.dir, "*.tmp*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestParseID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want ID
		bad  bool
	}{
		{"acme/m", ID{"acme/m", "main", ""}, false},
		{"acme/m@v2", ID{"acme/m", "v2", ""}, false},
		{"acme/m/q4.gguf", ID{"acme/m", "main", "q4.gguf"}, false},
		{"acme/m@v2/sub/q4.gguf", ID{"acme/m", "v2", "sub/q4.gguf"}, false},
		{"acme", ID{}, true},
		{"acme/m@", ID{}, true},
		{"acme/m/../x.gguf", ID{}, true},
		{"/m", ID{}, true},
	} {
		got, err := ParseID(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseID(%q) = %+v, %v; want %+v (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestModelsPrune(t *testing.T) {
	fixtureModel := fixture.Path(t, fixture.Model)
	n := openStore(t)
	ctx := t.Context()
	for _, repo := range []string{"acme/a", "acme/b"} {
		if _, err := ingest.Add(ctx, n.Store, fixtureModel, ingest.AddOptions{Repo: repo}); err != nil {
			t.Fatal(err)
		}
	}
	ms := New(n.Store, n.dir, nil, nil)
	path, err := ms.Locate(ctx, "acme/a")
	if err != nil {
		t.Fatal(err)
	}
	dir := n.dir
	os.WriteFile(filepath.Join(dir, "dead.gguf.tmp123"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	removed, err := ms.Prune(ctx)
	if err != nil || len(removed) != 1 || filepath.Base(removed[0]) != "dead.gguf.tmp123" {
		t.Fatalf("Prune = %v, %v; want only the dead temporary file", removed, err)
	}
	// acme/b still names the same file after acme/a goes.
	if err := n.Store.DeleteRef(ctx, manifest.Model, "acme/a", "main"); err != nil {
		t.Fatal(err)
	}
	if removed, err := ms.Prune(ctx); err != nil || len(removed) != 0 {
		t.Fatalf("Prune = %v, %v; want nothing (acme/b holds the file)", removed, err)
	}
	if err := n.Store.DeleteRef(ctx, manifest.Model, "acme/b", "main"); err != nil {
		t.Fatal(err)
	}
	if removed, err := ms.Prune(ctx); err != nil || len(removed) != 1 || removed[0] != path {
		t.Fatalf("Prune = %v, %v; want [%s]", removed, err, path)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Error("Prune removed a file that is not a model")
	}
}
