package mirror

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	carbs "github.com/ipld/go-car/v2/blockstore"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

func exportBytes(t testing.TB, st *store.Store, revs []Rev, o ExportOptions) ([]byte, *ExportResult) {
	t.Helper()
	var buf bytes.Buffer
	res, err := Export(t.Context(), st, &buf, revs, o)
	if err != nil {
		t.Fatalf("Export(%v) = %v", revs, err)
	}
	if int64(buf.Len()) != res.Bytes {
		t.Fatalf("Export wrote %d bytes, reports %d", buf.Len(), res.Bytes)
	}
	return buf.Bytes(), res
}

func refsOf(t testing.TB, st *store.Store) []store.Ref {
	t.Helper()
	refs, err := st.Refs(t.Context(), "", "")
	if err != nil && !errors.Is(err, store.ErrRepoNotFound) {
		t.Fatal(err)
	}
	return refs
}

func testRepo(t testing.TB, st *store.Store) (*manifest.Manifest, *manifest.Manifest) {
	m := add(t, st, manifest.Model, "acme/m", "main", map[string][]byte{
		"config.json":       []byte(`{"model_type":"llama"}`),
		"weights.bin":       randBytes(1, 3<<20+17),
		"sub/tokenizer.txt": randBytes(2, 100<<10),
		"dup/a.bin":         bytes.Repeat([]byte{7}, 2<<20), // a block used twice
	})
	d := add(t, st, manifest.Dataset, "acme/d", "v1", map[string][]byte{
		"data/train.csv": randBytes(3, 700<<10),
	})
	return m, d
}

func TestBundleRoundTrip(t *testing.T) {
	a := openStore(t)
	m, d := testRepo(t, a)
	revs := []Rev{{manifest.Model, "acme/m", "main"}, {manifest.Dataset, "acme/d", "v1"}}
	b, res := exportBytes(t, a, revs, ExportOptions{})
	if len(res.Roots) != 3 || !res.Roots[0].Equals(m.Root) || !res.Roots[1].Equals(d.Root) || !res.Roots[2].Equals(res.Index) {
		t.Fatalf("roots = %v, want [%s %s index]", res.Roots, m.Root, d.Root)
	}

	// go-car reads it as it is: roots, every block verified, and the index
	// finds every block.
	path := filepath.Join(t.TempDir(), "b.car")
	os.WriteFile(path, b, 0o644)
	cr, err := car.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := cr.Roots()
	if err != nil || len(roots) != 3 {
		t.Fatalf("go-car roots = %v, %v", roots, err)
	}
	if _, err := cr.Inspect(true); err != nil {
		t.Fatalf("go-car Inspect = %v", err)
	}
	cr.Close()
	bs, err := carbs.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if ok, err := bs.Has(t.Context(), f.CID); !ok || err != nil {
			t.Errorf("CAR index: Has(%s) = %v, %v", f.Path, ok, err)
		}
	}
	bs.Close()

	// The index block decodes as dag-json (what Kubo does to pin it) and
	// links the revision's root and manifest.
	ib, err := bs2Get(path, res.Index)
	if err != nil {
		t.Fatal(err)
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, bytes.NewReader(ib)); err != nil {
		t.Fatalf("dag-json decode of the index: %v", err)
	}
	rev0, err := nb.Build().LookupByString("revisions")
	if err == nil {
		rev0, err = rev0.LookupByIndex(0)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"root", "manifest"} {
		v, err := rev0.LookupByString(k)
		if err != nil || v.Kind() != datamodel.Kind_Link {
			t.Fatalf("index revisions[0].%s = %v, %v; want a link", k, v, err)
		}
	}
	if v, _ := rev0.LookupByString("root"); v != nil {
		if l, _ := v.AsLink(); l.(cidlink.Link).Cid != m.Root {
			t.Fatalf("index root link = %v, want %s", l, m.Root)
		}
	}

	bst := openStore(t)
	ir, err := Import(t.Context(), bst, bytes.NewReader(b), ImportOptions{})
	if err != nil {
		t.Fatalf("Import = %v", err)
	}
	if len(ir.Revisions) != 2 || ir.Bytes != int64(len(b)) {
		t.Fatalf("Import = %+v", ir)
	}
	if ir.Reread != 1 { // dup/a.bin repeats one leaf: read back from the store
		t.Errorf("Import reread %d files, want 1", ir.Reread)
	}
	for _, want := range []*manifest.Manifest{m, d} {
		got, err := bst.Resolve(t.Context(), want.Type, want.Repo, want.Commit)
		if err != nil {
			t.Fatalf("Resolve(%s) = %v", want.Repo, err)
		}
		if got.Commit != want.Commit || !got.Root.Equals(want.Root) {
			t.Fatalf("imported %s = %s, want %s", want.Repo, got.Commit, want.Commit)
		}
		ga, gb := readAll(t, a, want), readAll(t, bst, got)
		for p := range ga {
			if !bytes.Equal(ga[p], gb[p]) {
				t.Errorf("%s: %s differs", want.Repo, p)
			}
		}
	}
	if _, err := bst.Resolve(t.Context(), manifest.Dataset, "acme/d", "v1"); err != nil {
		t.Errorf("ref v1 missing: %v", err)
	}
}

func TestBundleRefused(t *testing.T) {
	a := openStore(t)
	testRepo(t, a)
	revs := []Rev{{manifest.Model, "acme/m", "main"}, {manifest.Dataset, "acme/d", "v1"}}
	full, _ := exportBytes(t, a, revs, ExportOptions{})

	flip := func(at int) []byte {
		b := bytes.Clone(full)
		b[at] ^= 0x40
		return b
	}
	// A bundle without the dataset's data block: a valid CAR, incomplete.
	other := openStore(t)
	add(t, other, manifest.Model, "acme/x", "main", map[string][]byte{"x": []byte("x")})

	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"truncated mid-block", full[:len(full)/2], "truncated"},
		{"truncated before index", full[:len(full)-40], "truncated"},
		{"flipped byte in the middle", flip(len(full) / 2), "bundle"},
		{"flipped byte late", flip(len(full) - 2000), "bundle"},
		{"flipped byte in the CAR index", flip(len(full) - 3), "CARv2 index"},
		{"trailing data", append(bytes.Clone(full), 0), "after the CARv2 index"},
		{"empty", nil, "bundle"},
		{"not a car", []byte("hello world, not a CAR file at all"), "bundle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			add(t, st, manifest.Model, "acme/keep", "main", map[string][]byte{"k": []byte("keep")})
			before := refsOf(t, st)
			_, err := Import(t.Context(), st, bytes.NewReader(tc.b), ImportOptions{})
			if err == nil || !errors.Is(err, ErrBundle) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import = %v, want ErrBundle mentioning %q", err, tc.want)
			}
			after := refsOf(t, st)
			if len(after) != len(before) {
				t.Fatalf("refs after refused import = %v, want %v", after, before)
			}
		})
	}

	// Incremental bundle into a store without the base: incomplete.
	a2 := openStore(t)
	add(t, a2, manifest.Model, "acme/m", "v1", map[string][]byte{"w.bin": randBytes(9, 2<<20)})
	add(t, a2, manifest.Model, "acme/m", "v2", map[string][]byte{"w.bin": append(randBytes(9, 2<<20), 1, 2, 3)})
	inc, _ := exportBytes(t, a2, []Rev{{manifest.Model, "acme/m", "v2"}}, ExportOptions{Since: []Rev{{manifest.Model, "acme/m", "v1"}}})
	st := openStore(t)
	_, err := Import(t.Context(), st, bytes.NewReader(inc), ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("Import(incremental without base) = %v, want incomplete", err)
	}
	if refs := refsOf(t, st); len(refs) != 0 {
		t.Fatalf("refs after refused import = %v", refs)
	}
}

// TestBundleIncremental: a fine-tune that changes every tenth tensor gives
// an incremental bundle under 12% of the full one, and it imports on a
// site holding the base.
func TestBundleIncremental(t *testing.T) {
	a := openStore(t)
	dir1, dir2 := t.TempDir(), t.TempDir()
	sizes := tensorSizes(70, 1)
	safetensorsFile(t, filepath.Join(dir1, "model.safetensors"), sizes, func(i int) uint64 { return uint64(i) }, map[string]string{"format": "pt"})
	safetensorsFile(t, filepath.Join(dir2, "model.safetensors"), sizes, func(i int) uint64 {
		if i%10 == 3 {
			return uint64(i) + 1000
		}
		return uint64(i)
	}, map[string]string{"format": "pt", "finetune": "yes"})
	os.WriteFile(filepath.Join(dir1, "config.json"), []byte(`{"a":1}`), 0o644)
	os.WriteFile(filepath.Join(dir2, "config.json"), []byte(`{"a":2}`), 0o644)
	base := addDir(t, a, manifest.Model, "acme/ft", "base", dir1)
	tuned := addDir(t, a, manifest.Model, "acme/ft", "tuned", dir2)

	full, _ := exportBytes(t, a, []Rev{{manifest.Model, "acme/ft", "base"}}, ExportOptions{})
	fullTuned, _ := exportBytes(t, a, []Rev{{manifest.Model, "acme/ft", "tuned"}}, ExportOptions{})
	inc, ir := exportBytes(t, a, []Rev{{manifest.Model, "acme/ft", "tuned"}}, ExportOptions{Since: []Rev{{manifest.Model, "acme/ft", "base"}}})
	ratio := float64(len(inc)) / float64(len(fullTuned))
	t.Logf("full %d bytes, incremental %d bytes (%.2f%%), %d blocks left out", len(fullTuned), len(inc), 100*ratio, ir.Skipped)
	if ratio >= 0.12 {
		t.Fatalf("incremental bundle = %.2f%% of the full one, want < 12%%", 100*ratio)
	}

	b := openStore(t)
	if _, err := Import(t.Context(), b, bytes.NewReader(full), ImportOptions{}); err != nil {
		t.Fatalf("Import(full) = %v", err)
	}
	res, err := Import(t.Context(), b, bytes.NewReader(inc), ImportOptions{})
	if err != nil {
		t.Fatalf("Import(incremental) = %v", err)
	}
	if res.Reread != 1 {
		t.Errorf("incremental import reread %d files, want 1 (the safetensors file)", res.Reread)
	}
	got, err := b.Resolve(t.Context(), manifest.Model, "acme/ft", "tuned")
	if err != nil || got.Commit != tuned.Commit {
		t.Fatalf("Resolve(tuned) = %v, %v; want %s", got, err, tuned.Commit)
	}
	if got, _ := b.Resolve(t.Context(), manifest.Model, "acme/ft", "base"); got == nil || got.Commit != base.Commit {
		t.Fatalf("base moved")
	}
	if !bytes.Equal(readAll(t, b, got)["model.safetensors"], readAll(t, a, tuned)["model.safetensors"]) {
		t.Fatal("tuned bytes differ after incremental import")
	}
}

func TestDecodeIndexRefuses(t *testing.T) {
	good, err := encodeIndex(bundleIndex{Format: BundleFormat, Blocks: 1, Bytes: 2, Revisions: []indexRev{{
		Type: "model", Repo: "acme/m", Revision: "main", Commit: strings.Repeat("a", 40),
		Root: rawBlock([]byte("r")).Cid(), Manifest: rawBlock([]byte("m")).Cid(),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeIndex(good.RawData()); err != nil {
		t.Fatalf("decodeIndex(good) = %v", err)
	}
	s := string(good.RawData())
	for _, tc := range []struct{ name, old, new string }{
		{"format", BundleFormat, "other/1"},
		{"repo", "acme/m", "../etc"},
		{"revision", `"main"`, `"a..b"`},
		{"commit", strings.Repeat("a", 40), "zz"},
		{"negative", `"blocks":1`, `"blocks":-1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(s, tc.old, tc.new, 1)
			if bad == s {
				t.Fatalf("replacement of %q did nothing in %s", tc.old, s)
			}
			if _, err := decodeIndex([]byte(bad)); err == nil {
				t.Fatalf("decodeIndex(%s) = nil error", bad)
			}
		})
	}
}

func FuzzDecodeIndex(f *testing.F) {
	good, _ := encodeIndex(bundleIndex{Format: BundleFormat, Blocks: 1, Bytes: 2, Revisions: []indexRev{{
		Type: "model", Repo: "acme/m", Revision: "main", Commit: strings.Repeat("a", 40),
		Root: rawBlock([]byte("r")).Cid(), Manifest: rawBlock([]byte("m")).Cid(),
	}}})
	f.Add(good.RawData())
	f.Add([]byte(`{"format":"cairn-bundle/1","revisions":[]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := decodeIndex(b)
		if err != nil {
			return
		}
		for _, r := range x.Revisions {
			if manifest.ValidateRepo(r.Repo) != nil || manifest.ValidateCommit(r.Commit) != nil || !r.Root.Defined() {
				t.Fatalf("decodeIndex accepted %+v", r)
			}
		}
	})
}

// FuzzImport feeds arbitrary bytes to Import: it must refuse them with
// ErrBundle (or accept a valid bundle), never panic, and never leave a ref
// behind a refusal.
func FuzzImport(f *testing.F) {
	src, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	defer src.Close()
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.bin"), randBytes(5, 70<<10), 0o644)
	addDir(f, src, manifest.Model, "acme/f", "main", dir)
	var buf bytes.Buffer
	if _, err := Export(f.Context(), src, &buf, []Rev{{manifest.Model, "acme/f", "main"}}, ExportOptions{}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:200])
	f.Add([]byte{})
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		before, _ := st.Refs(t.Context(), "", "")
		_, err := Import(t.Context(), st, bytes.NewReader(b), ImportOptions{Workers: 1})
		if err == nil {
			return
		}
		if !errors.Is(err, ErrBundle) {
			t.Fatalf("Import = %v, want ErrBundle", err)
		}
		after, _ := st.Refs(t.Context(), "", "")
		if len(after) != len(before) {
			t.Fatalf("refused import changed refs: %v → %v", before, after)
		}
	})
}

// bs2Get reads one block of a CAR file through go-car's index.
func bs2Get(path string, c cid.Cid) ([]byte, error) {
	bs, err := carbs.OpenReadOnly(path)
	if err != nil {
		return nil, err
	}
	defer bs.Close()
	b, err := bs.Get(context.Background(), c)
	if err != nil {
		return nil, err
	}
	return b.RawData(), nil
}

// refuseRepo is a policy that refuses one repo.
type refuseRepo string

func (r refuseRepo) MayImport(repo string) error {
	if repo == string(r) {
		return errors.New("policy: this node (FR) may not hold " + repo)
	}
	return nil
}

func TestBundleImportAsksThePolicy(t *testing.T) {
	a := openStore(t)
	testRepo(t, a)
	b, _ := exportBytes(t, a, []Rev{{manifest.Model, "acme/m", "main"}, {manifest.Dataset, "acme/d", "v1"}}, ExportOptions{})
	dst := openStore(t)
	_, err := Import(t.Context(), dst, bytes.NewReader(b), ImportOptions{Policy: refuseRepo("acme/d")})
	if err == nil || !strings.Contains(err.Error(), "may not hold acme/d") {
		t.Fatalf("Import under a refusing policy = %v", err)
	}
	st, err := dst.Stat(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocks != 0 {
		t.Fatalf("a refused bundle stored %d blocks", st.Blocks)
	}
	if _, err := dst.Resolve(t.Context(), manifest.Model, "acme/m", "main"); err == nil {
		t.Fatal("a refused bundle committed a revision")
	}
	if _, err := Import(t.Context(), dst, bytes.NewReader(b), ImportOptions{Policy: refuseRepo("acme/other")}); err != nil {
		t.Fatalf("Import under an allowing policy: %v", err)
	}
}
