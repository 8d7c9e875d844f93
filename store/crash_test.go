package store_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"
)

// crashDirEnv, when set, makes TestCrashKill9 the child: it writes into the
// store in that directory until killed.
const crashDirEnv = "CAIRN_STORE_CRASH_CHILD_DIR"

// crashIterations bounds the child's loop should nobody kill it.
const crashIterations = 400

// TestCrashKill9 runs a child process (this test binary) that imports
// revisions and moves refs in a loop, kills it with SIGKILL mid-way, and
// checks that the reopened store is whole: every ref resolves, every file
// of every live revision reads back with its manifest's sha256, and every
// stored block hashes to its CID. Three rounds on the same directory.
func TestCrashKill9(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	dir := t.TempDir()
	for round := range 3 {
		commits := runAndKill(t, dir, round, 5+round*7)
		refs, blocksSeen := verifyWhole(t, dir)
		t.Logf("round %d: killed after %d commits; %d refs and %d blocks whole", round, commits, refs, blocksSeen)
		if refs == 0 {
			t.Fatalf("round %d: no ref survived although %d commits were reported", round, commits)
		}
	}
}

// runAndKill starts the child and SIGKILLs it once it has reported after
// commits (while it is writing the next revision).
func runAndKill(t *testing.T, dir string, round, after int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, "CAIRN_STORE_CRASH_ROUND="+strconv.Itoa(round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	commits := 0
	deadline := time.After(60 * time.Second)
wait:
	for commits < after {
		select {
		case l, ok := <-lines:
			if !ok {
				break wait
			}
			if _, err := fmt.Sscanf(l, "committed %d", new(int)); err == nil {
				commits++
			}
		case <-deadline:
			break wait
		}
	}
	if commits < after {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child reported %d commits, want %d; stderr:\n%s", commits, after, stderr.String())
	}
	// Let it get into the middle of the next import.
	time.Sleep(time.Duration(3+round*5) * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	for range lines {
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("child exited cleanly before the kill; stderr:\n%s", stderr.String())
	}
	return commits
}

func crashChild(t *testing.T, dir string) {
	s, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	round, _ := strconv.Atoi(os.Getenv("CAIRN_STORE_CRASH_ROUND"))
	for i := range crashIterations {
		seed := uint64(round*1000 + i)
		files := []storetest.File{
			{Path: "config.json", Data: []byte(fmt.Sprintf(`{"i":%d}`, seed))},
			{Path: "model.safetensors", Data: storetest.Bytes(seed, 1<<20+int(seed%7)*100_000), Chunk: 256 << 10},
			{Path: "shared.bin", Data: storetest.Bytes(7, 600<<10), Chunk: 256 << 10},
		}
		rev := storetest.BuildRevision(t, s, manifest.Model, fmt.Sprintf("acme/m%d", i%5), files)
		// Loose blocks that GC-less crashes leave behind must be whole too.
		if err := s.Put(ctx, storetest.RawBlock(t, storetest.Bytes(seed+1e6, 300<<10))); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, rev.Manifest, fmt.Sprintf("r%d", i%3), rev.Blocks); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("committed %d\n", i)
	}
	s.Close()
}

// verifyWhole reopens the store and checks every ref and every block.
func verifyWhole(t *testing.T, dir string) (refs, nblocks int) {
	t.Helper()
	ctx := t.Context()
	s, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	all, err := s.Refs(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		m, err := s.Resolve(ctx, r.Kind, r.Repo, r.Revision)
		if err != nil {
			t.Fatalf("ref %s@%s does not resolve: %v", r.Repo, r.Revision, err)
		}
		if m.Commit != r.Commit || !m.Root.Equals(r.Root) {
			t.Fatalf("ref %s@%s = %s, manifest says %s", r.Repo, r.Revision, r.Commit, m.Commit)
		}
		if _, err := s.Get(ctx, m.Root); err != nil {
			t.Fatalf("root of %s@%s: %v", r.Repo, r.Revision, err)
		}
		for _, f := range m.Files {
			h := sha256.New()
			if err := readDAG(ctx, s, f.CID, func(b []byte) { h.Write(b) }); err != nil {
				t.Fatalf("%s@%s %s: %v", r.Repo, r.Revision, f.Path, err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
				t.Fatalf("%s@%s %s: sha256 %s, manifest says %s", r.Repo, r.Revision, f.Path, got, f.SHA256)
			}
		}
	}
	// Manifest, ref and root pin became visible together: every ref's
	// commit has its root pin, and no root pin outlives its refs.
	pins, err := s.Pins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revPins := map[string]cid.Cid{}
	for _, p := range pins {
		revPins[p.Name] = p.CID
	}
	live := map[string]bool{}
	for _, r := range all {
		name := fmt.Sprintf("rev:%s:%s@%s", r.Kind, r.Repo, r.Commit)
		live[name] = true
		if c, ok := revPins[name]; !ok || !c.Equals(r.Root) {
			t.Fatalf("ref %s@%s -> %s has no root pin %s (pins %v)", r.Repo, r.Revision, r.Commit, name, pins)
		}
	}
	for name := range revPins {
		if !live[name] {
			t.Fatalf("pin %s outlives every ref of its commit", name)
		}
	}
	ch, errf, err := s.AllKeysChanWithErr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for c := range ch {
		b, err := s.Get(ctx, c)
		if err != nil {
			t.Fatalf("listed block %s: %v", c, err)
		}
		sum := sha256.Sum256(b.RawData())
		if !bytes.Equal(c.Hash()[2:], sum[:]) {
			t.Fatalf("block %s (%d bytes) does not hash to its key: torn write", c, len(b.RawData()))
		}
		nblocks++
	}
	if err := errf(); err != nil {
		t.Fatal(err)
	}
	return len(all), nblocks
}

// readDAG calls fn with the leaf bytes of the fixture DAG under c, in order.
func readDAG(ctx context.Context, s *store.Store, c cid.Cid, fn func([]byte)) error {
	b, err := s.Get(ctx, c)
	if err != nil {
		return err
	}
	if c.Type() == cid.Raw {
		fn(b.RawData())
		return nil
	}
	nd, err := merkledag.DecodeProtobuf(b.RawData())
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	for _, l := range nd.Links() {
		if err := readDAG(ctx, s, l.Cid, fn); err != nil {
			return err
		}
	}
	return nil
}
