//go:build linux

package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/store"
	blocks "github.com/ipfs/go-block-format"
)

// rssFileKiB is the file-backed part of this process's resident set.
func rssFileKiB(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	var n int64
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		if k == "RssFile" || k == "RssShmem" {
			x, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			n += x
		}
	}
	return n
}

// TestMappingsReleased writes and then reads 256 MiB and checks that the
// value log's mmapped pages do not pile up in the resident set.
func TestMappingsReleased(t *testing.T) {
	ctx := context.Background()
	// newBlockSource names blocks by counter, not content: reads are not checked.
	s, err := store.Open(store.Options{Dir: t.TempDir(), TrustReads: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := rssFileKiB(t)
	src := newBlockSource(1 << 20)
	var written []blocks.Block
	for range 16 {
		batch := make([]blocks.Block, 16)
		for i := range batch {
			batch[i] = src.next()
		}
		if err := s.PutMany(ctx, batch); err != nil {
			t.Fatal(err)
		}
		written = append(written, batch...)
	}
	afterWrite := rssFileKiB(t)
	for _, b := range written {
		if err := s.View(ctx, b.Cid(), func([]byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	afterRead := rssFileKiB(t)
	const limit = 150 << 10 // KiB: 64 MiB between releases, memtables, slack
	if afterWrite-before > limit || afterRead-before > limit {
		t.Errorf("file-backed RSS grew %d KiB after writing 256 MiB and %d KiB after reading it, want under %d KiB",
			afterWrite-before, afterRead-before, limit)
	}
	t.Logf("file-backed RSS: %d KiB before, %d after writing, %d after reading 256 MiB", before, afterWrite, afterRead)
}

// TestMappingsReleasedViaSymlink opens the store through a relative path
// and a symlink (the kernel names mapped files by their real path).
func TestMappingsReleasedViaSymlink(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	real := filepath.Join(base, "real dir") // a space, too
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(base)
	s, err := store.Open(store.Options{Dir: "link"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := rssFileKiB(t)
	src := newBlockSource(1 << 20)
	for range 16 {
		batch := make([]blocks.Block, 16)
		for i := range batch {
			batch[i] = src.next()
		}
		if err := s.PutMany(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if grew := rssFileKiB(t) - before; grew > 150<<10 {
		t.Errorf("file-backed RSS grew %d KiB writing 256 MiB through a symlinked, relative Dir", grew)
	}
}
