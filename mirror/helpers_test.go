package mirror

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
)

func openStore(t testing.TB) *store.Store { return storetest.Open(t) }

func randBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// tensorSizes are the byte sizes of n tensors cycling through seven sizes
// from 48 KiB to 3 MiB (scaled by scale/2). Changing every tenth tensor of
// 70 changes each size once: exactly a tenth of the tensor bytes.
func tensorSizes(n, scale int) []int {
	cycle := []int{3 << 20, 256 << 10, 1<<20 + 4096, 96 << 10, 2 << 20, 512 << 10, 1 << 20}
	out := make([]int, n)
	for i := range out {
		out[i] = cycle[i%len(cycle)] * scale / 2
	}
	return out
}

// safetensorsFile writes a safetensors file whose tensor i holds content
// seeded by seed(i): a fine-tune changes some seeds.
func safetensorsFile(t testing.TB, path string, sizes []int, seed func(i int) uint64, meta map[string]string) {
	t.Helper()
	hdr := map[string]any{}
	if meta != nil {
		hdr["__metadata__"] = meta
	}
	var off int
	for i, n := range sizes {
		hdr[fmt.Sprintf("layers.%03d.weight", i)] = map[string]any{"dtype": "U8", "shape": []int{n}, "data_offsets": []int{off, off + n}}
		off += n
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(js))))
	f.Write(js)
	for i, n := range sizes {
		if _, err := f.Write(randBytes(seed(i), n)); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFiles(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func addDir(t testing.TB, st *store.Store, kind manifest.Kind, repo, rev, dir string) *manifest.Manifest {
	t.Helper()
	res, err := ingest.Add(t.Context(), st, dir, ingest.AddOptions{Repo: repo, Kind: kind, Revision: rev})
	if err != nil {
		t.Fatalf("ingest.Add(%s@%s) = %v", repo, rev, err)
	}
	return res.Manifest
}

func add(t testing.TB, st *store.Store, kind manifest.Kind, repo, rev string, files map[string][]byte) *manifest.Manifest {
	t.Helper()
	return addDir(t, st, kind, repo, rev, writeFiles(t, files))
}

// readAll reads every file of m back from st.
func readAll(t testing.TB, st *store.Store, m *manifest.Manifest) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	dir := t.TempDir()
	if err := ingest.Get(t.Context(), st, m, m.Files, dir, ingest.GetOptions{}); err != nil {
		t.Fatalf("get %s: %v", m.Repo, err)
	}
	for _, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		out[f.Path] = b
	}
	return out
}
