package ingest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// outsideTree is a folder beside the imported one holding what an attacker
// would link to: a passwd file and an etc folder.
func outsideTree(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.MkdirAll(filepath.Join(out, "etc"), 0o755)
	os.WriteFile(filepath.Join(out, "etc", "shadow"), []byte("root:$6$secret\n"), 0o600)
	return out
}

func TestAddRefusesSymlinksLeavingTheFolder(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	out := outsideTree(t)
	dir := modelDir(t)
	must(t, os.Symlink(filepath.Join(out, "passwd"), filepath.Join(dir, "passwd")))
	must(t, os.Symlink(filepath.Join(out, "etc"), filepath.Join(dir, "sub", "etc")))
	must(t, os.Symlink("../../"+filepath.Base(out)+"/passwd", filepath.Join(dir, "sub", "rel-passwd")))

	_, err := Add(ctx, st, dir, AddOptions{Repo: "acme/tiny"})
	if !errors.Is(err, ErrLeavesTree) {
		t.Fatalf("Add = %v, want ErrLeavesTree", err)
	}
	for _, want := range []string{filepath.Join(dir, "passwd"), filepath.Join(dir, "sub", "etc"), "rel-passwd", "3 paths refused", "--follow-symlinks"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "shadow") {
		t.Errorf("the linked folder outside was walked:\n%v", err)
	}
	if refs, _ := st.Refs(ctx, "", ""); len(refs) != 0 {
		t.Errorf("refused add left refs %v", refs)
	}

	// Opting in imports the targets' bytes.
	res, err := Add(ctx, st, dir, AddOptions{Repo: "acme/tiny", FollowSymlinks: true})
	if err != nil {
		t.Fatalf("Add with FollowSymlinks = %v", err)
	}
	for _, p := range []string{"passwd", "sub/etc/shadow", "sub/rel-passwd", "config.json"} {
		if _, ok := res.Manifest.File(p); !ok {
			t.Errorf("FollowSymlinks: %s not imported", p)
		}
	}
}

func TestAddFollowsSymlinksInsideTheFolder(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	dir := modelDir(t)
	must(t, os.Symlink("config.json", filepath.Join(dir, "alias.json")))
	must(t, os.Symlink("../config.json", filepath.Join(dir, "sub", "up.json")))
	must(t, os.Symlink("sub", filepath.Join(dir, "subl")))
	// The folder named through a symlink: links are judged against its target.
	via := filepath.Join(t.TempDir(), "via")
	must(t, os.Symlink(dir, via))

	res, err := Add(ctx, st, via, AddOptions{Repo: "acme/tiny"})
	if err != nil {
		t.Fatalf("Add = %v", err)
	}
	cfg, _ := res.Manifest.File("config.json")
	for _, p := range []string{"alias.json", "sub/up.json"} {
		f, ok := res.Manifest.File(p)
		if !ok || f.SHA256 != cfg.SHA256 {
			t.Errorf("%s = %+v (found %v), want the bytes of config.json", p, f, ok)
		}
	}
	if _, ok := res.Manifest.File("subl/tokenizer.json"); !ok {
		t.Error("linked folder inside the tree not walked")
	}
}

func TestAddRefusesSpecialFiles(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	dir := modelDir(t)
	fifo := filepath.Join(dir, "sub", "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	must(t, os.Symlink("sub/pipe", filepath.Join(dir, "to-pipe")))
	for _, follow := range []bool{false, true} {
		_, err := Add(ctx, st, dir, AddOptions{Repo: "acme/tiny", FollowSymlinks: follow})
		if !errors.Is(err, ErrSpecialFile) {
			t.Fatalf("Add(follow=%v) = %v, want ErrSpecialFile", follow, err)
		}
		if !strings.Contains(err.Error(), fifo+": named pipe (FIFO)") || !strings.Contains(err.Error(), "to-pipe -> "+fifo) {
			t.Errorf("error does not name the pipe and the link to it:\n%v", err)
		}
	}
	if _, err := Add(ctx, st, fifo, AddOptions{Repo: "acme/tiny"}); !errors.Is(err, ErrSpecialFile) {
		t.Errorf("Add(the pipe itself) = %v, want ErrSpecialFile", err)
	}
}

// TestOpenSourceSeesSwap: a collected file replaced by a symlink before it
// is read is refused, not read through the link.
func TestOpenSourceSeesSwap(t *testing.T) {
	dir := t.TempDir()
	out := outsideTree(t)
	p := filepath.Join(dir, "a.json")
	os.WriteFile(p, []byte("{}"), 0o644)
	srcs, err := collect(dir, false)
	if err != nil || len(srcs) != 1 {
		t.Fatalf("collect = %v, %v", srcs, err)
	}
	os.Remove(p)
	must(t, os.Symlink(filepath.Join(out, "passwd"), p))
	if f, err := openSource(srcs[0]); err == nil || !strings.Contains(err.Error(), "replaced") {
		if f != nil {
			b := new(bytes.Buffer)
			b.ReadFrom(f)
			f.Close()
		}
		t.Errorf("openSource after swap = %v, want refused", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
