package hfapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
)

func openStore(t testing.TB) *store.Store { return storetest.Open(t) }

// safetensors builds a valid safetensors file of one U8 tensor of n bytes.
func safetensors(n int, seed uint64) []byte {
	hdr, _ := json.Marshal(map[string]any{
		"__metadata__": map[string]string{"format": "pt"},
		"w":            map[string]any{"dtype": "U8", "shape": []int{n}, "data_offsets": []int{0, n}},
	})
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint64(len(hdr)))
	buf.Write(hdr)
	buf.Write(randBytes(n, seed))
	return buf.Bytes()
}

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeRepo writes files (path → content) under a new temporary folder.
func writeRepo(t testing.TB, files map[string][]byte) string {
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

func add(t testing.TB, st *store.Store, kind manifest.Kind, repo, rev string, files map[string][]byte) *manifest.Manifest {
	t.Helper()
	res, err := ingest.Add(t.Context(), st, writeRepo(t, files), ingest.AddOptions{Repo: repo, Kind: kind, Revision: rev})
	if err != nil {
		t.Fatalf("ingest.Add(%s@%s) = %v", repo, rev, err)
	}
	return res.Manifest
}

func serve(t testing.TB, st Store, o Options) *httptest.Server {
	t.Helper()
	s, err := New(st, o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

type resp struct {
	status int
	h      http.Header
	body   []byte
}

func do(t testing.TB, method, url string, hdr map[string]string, body io.Reader) resp {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return resp{res.StatusCode, res.Header, b}
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %q: %v", truncate(b), err)
	}
	return v
}

func truncate(b []byte) string {
	s := string(b)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
