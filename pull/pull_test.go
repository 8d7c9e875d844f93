package pull

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store/storetest"
)

func TestPullFromTheStoreAlone(t *testing.T) {
	st := storetest.Open(t)
	rev := storetest.BuildRevision(t, st, manifest.Model, "acme/local", []storetest.File{{Path: "a.bin", Data: storetest.Bytes(1, 1000)}})
	if err := st.Commit(t.Context(), rev.Manifest, "main", rev.Blocks); err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Store: st})
	res, err := s.Pull(t.Context(), manifest.Model, "acme/local", "main", Options{})
	if err != nil || !res.Local || res.Manifest.Commit != rev.Manifest.Commit {
		t.Fatalf("pull of a stored revision: %+v, %v", res, err)
	}
	// Without a host nothing else is asked: the error says why.
	_, err = s.Pull(t.Context(), manifest.Model, "acme/absent", "main", Options{})
	if err == nil || errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "peer-to-peer is off") {
		t.Fatalf("pull without a host: %v", err)
	}
}

func TestSplitFiles(t *testing.T) {
	x := []byte("x")
	m := storetest.BuildRevision(t, nil, manifest.Model, "acme/split", []storetest.File{{Path: "a", Data: x}, {Path: "b/c", Data: x}, {Path: "d", Data: x}}).Manifest
	write, check, err := splitFiles(m, Options{})
	if err != nil || len(write) != 0 || len(check) != 3 {
		t.Fatalf("no Out: write %v check %v err %v", write, check, err)
	}
	write, check, err = splitFiles(m, Options{Out: t.TempDir(), Paths: []string{"b/c"}})
	if err != nil || len(write) != 1 || write[0].Path != "b/c" || len(check) != 2 {
		t.Fatalf("Out with one path: write %v check %v err %v", write, check, err)
	}
	if _, _, err := splitFiles(m, Options{Out: t.TempDir(), Paths: []string{"missing"}}); err == nil {
		t.Fatal("a path the revision lacks was accepted")
	}
}

func TestRevisionKey(t *testing.T) {
	k := RevisionKey(manifest.Model, "acme/x", "main")
	if k != RevisionKey(manifest.Model, "acme/x", "main") || k.Type() != cid.Raw {
		t.Fatalf("key %s: not stable or not raw", k)
	}
	others := []cid.Cid{RevisionKey(manifest.Dataset, "acme/x", "main"), RevisionKey(manifest.Model, "acme/y", "main"), RevisionKey(manifest.Model, "acme/x", "v1")}
	if slices.Contains(others, k) {
		t.Fatal("different revisions share a key")
	}
}

func TestSwarmTracksRootsWhilePulled(t *testing.T) {
	s := NewSwarm()
	rev := storetest.BuildRevision(t, nil, manifest.Model, "acme/s", []storetest.File{{Path: "a", Data: []byte("x")}})
	m := rev.Manifest
	s.begin(m, "main")
	s.begin(m, "main") // a second pull of the same revision
	s.end(m)
	if repo, ok := s.RepoOf(m.Root); !ok || repo != "acme/s" {
		t.Fatalf("root forgotten while a pull still runs: %q %v", repo, ok)
	}
	s.end(m)
	if _, ok := s.RepoOf(m.Root); ok {
		t.Fatal("root still tracked after the last pull ended")
	}
}

func TestRootsAnnounceEachContentOnceAndEveryRevisionKey(t *testing.T) {
	st := storetest.Open(t)
	rev := storetest.BuildRevision(t, st, manifest.Model, "acme/r", []storetest.File{{Path: "a", Data: []byte("x")}})
	for _, name := range []string{"main", "v1"} {
		if err := st.Commit(t.Context(), rev.Manifest, name, rev.Blocks); err != nil {
			t.Fatal(err)
		}
	}
	roots, err := Roots(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	want := map[cid.Cid]int{rev.Manifest.Root: 1}
	got := map[cid.Cid]int{}
	for _, c := range roots {
		got[c]++
	}
	for _, r := range []string{"main", "v1"} {
		want[RevisionKey(manifest.Model, "acme/r", r)] = 1
	}
	if len(got) != len(want) || len(roots) != len(want) {
		t.Fatalf("roots %v, want %v", roots, want)
	}
	for c, n := range want {
		if got[c] != n {
			t.Fatalf("roots %v lack %s", roots, c)
		}
	}
}
