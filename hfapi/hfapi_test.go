package hfapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

type fixture struct {
	st    *store.Store
	srv   *Server
	url   string
	files map[string][]byte
	main  *manifest.Manifest
	pr    *manifest.Manifest
	data  *manifest.Manifest
	dfile []byte
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	st := openStore(t)
	f := &fixture{st: st, files: map[string][]byte{
		"config.json":       []byte(`{"model_type": "llama", "hidden_size": 8}` + "\n"),
		"model.safetensors": safetensors(3<<20+12345, 1),
		"tokenizer.json":    []byte(`{"version": "1.0"}`),
		"sub/readme.txt":    []byte("hello\n"),
		"sub/deep/x.txt":    []byte("deep file\n"),
	}}
	f.main = add(t, st, manifest.Model, "acme/tiny", "main", f.files)
	f.pr = add(t, st, manifest.Model, "acme/tiny", "refs/pr/1", map[string][]byte{"config.json": []byte(`{"pr": 1}`)})
	f.dfile = randBytes(200<<10, 7)
	f.data = add(t, st, manifest.Dataset, "acme/data", "main", map[string][]byte{
		"README.md": []byte("# data\n"), "data/train.parquet": f.dfile,
	})
	var err error
	if o.Logger == nil && !testing.Verbose() {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if f.srv, err = New(st, o); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(f.srv)
	t.Cleanup(hs.Close)
	f.url = hs.URL
	return f
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestResolve(t *testing.T) {
	f := newFixture(t, Options{})
	big := f.files["model.safetensors"]
	small := f.files["config.json"]
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		body               []byte // nil: not checked; checked on GET
		etag               string
		commit             string
		contentRange       string
		length             int64
	}{
		{"small GET", "GET", "/acme/tiny/resolve/main/config.json", nil, 200, small, manifest.GitBlobID(small), f.main.Commit, "", int64(len(small))},
		{"small HEAD", "HEAD", "/acme/tiny/resolve/main/config.json", nil, 200, nil, manifest.GitBlobID(small), f.main.Commit, "", int64(len(small))},
		{"LFS GET", "GET", "/acme/tiny/resolve/main/model.safetensors", nil, 200, big, sha(big), f.main.Commit, "", int64(len(big))},
		{"LFS HEAD", "HEAD", "/acme/tiny/resolve/main/model.safetensors", nil, 200, nil, sha(big), f.main.Commit, "", int64(len(big))},
		{"nested path", "GET", "/acme/tiny/resolve/main/sub/deep/x.txt", nil, 200, f.files["sub/deep/x.txt"], manifest.GitBlobID(f.files["sub/deep/x.txt"]), f.main.Commit, "", 10},
		{"HEAD revision", "GET", "/acme/tiny/resolve/HEAD/config.json", nil, 200, small, manifest.GitBlobID(small), f.main.Commit, "", int64(len(small))},
		{"commit revision", "GET", "/acme/tiny/resolve/" + f.main.Commit + "/config.json", nil, 200, small, manifest.GitBlobID(small), f.main.Commit, "", int64(len(small))},
		{"encoded pr revision", "GET", "/acme/tiny/resolve/refs%2Fpr%2F1/config.json", nil, 200, []byte(`{"pr": 1}`), manifest.GitBlobID([]byte(`{"pr": 1}`)), f.pr.Commit, "", 9},
		{"raw pr revision", "GET", "/acme/tiny/resolve/refs/pr/1/config.json", nil, 200, []byte(`{"pr": 1}`), manifest.GitBlobID([]byte(`{"pr": 1}`)), f.pr.Commit, "", 9},
		{"models prefix", "GET", "/models/acme/tiny/resolve/main/config.json", nil, 200, small, manifest.GitBlobID(small), f.main.Commit, "", int64(len(small))},
		{"dataset", "GET", "/datasets/acme/data/resolve/main/data/train.parquet", nil, 200, f.dfile, sha(f.dfile), f.data.Commit, "", int64(len(f.dfile))},
		{"range 0-0", "GET", "/acme/tiny/resolve/main/model.safetensors", map[string]string{"Range": "bytes=0-0"}, 206, big[:1], sha(big), f.main.Commit, fmt.Sprintf("bytes 0-0/%d", len(big)), 1},
		{"range 0-0 small", "GET", "/acme/tiny/resolve/main/config.json", map[string]string{"Range": "bytes=0-0"}, 206, small[:1], manifest.GitBlobID(small), f.main.Commit, fmt.Sprintf("bytes 0-0/%d", len(small)), 1},
		{"range a-b across blocks", "GET", "/acme/tiny/resolve/main/model.safetensors", map[string]string{"Range": "bytes=1000000-2100000"}, 206, big[1000000:2100001], sha(big), f.main.Commit, fmt.Sprintf("bytes 1000000-2100000/%d", len(big)), 1100001},
		{"range N-", "GET", "/acme/tiny/resolve/main/model.safetensors", map[string]string{"Range": "bytes=3000000-"}, 206, big[3000000:], sha(big), f.main.Commit, fmt.Sprintf("bytes 3000000-%d/%d", len(big)-1, len(big)), int64(len(big) - 3000000)},
		{"range suffix", "GET", "/acme/tiny/resolve/main/model.safetensors", map[string]string{"Range": "bytes=-100"}, 206, big[len(big)-100:], sha(big), f.main.Commit, fmt.Sprintf("bytes %d-%d/%d", len(big)-100, len(big)-1, len(big)), 100},
		{"range suffix longer than file", "GET", "/acme/tiny/resolve/main/config.json", map[string]string{"Range": "bytes=-100000"}, 206, small, manifest.GitBlobID(small), f.main.Commit, fmt.Sprintf("bytes 0-%d/%d", len(small)-1, len(small)), int64(len(small))},
		{"range end clipped", "GET", "/acme/tiny/resolve/main/config.json", map[string]string{"Range": "bytes=5-99999"}, 206, small[5:], manifest.GitBlobID(small), f.main.Commit, fmt.Sprintf("bytes 5-%d/%d", len(small)-1, len(small)), int64(len(small) - 5)},
		{"range HEAD", "HEAD", "/acme/tiny/resolve/main/model.safetensors", map[string]string{"Range": "bytes=0-0"}, 206, nil, sha(big), f.main.Commit, fmt.Sprintf("bytes 0-0/%d", len(big)), 1},
		{"range past end", "GET", "/acme/tiny/resolve/main/config.json", map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(small))}, 416, nil, "", f.main.Commit, fmt.Sprintf("bytes */%d", len(small)), -1},
		{"range malformed", "GET", "/acme/tiny/resolve/main/config.json", map[string]string{"Range": "bytes=x-1"}, 416, nil, "", f.main.Commit, fmt.Sprintf("bytes */%d", len(small)), -1},
		{"multi range gives all", "GET", "/acme/tiny/resolve/main/config.json", map[string]string{"Range": "bytes=0-1,4-5"}, 200, small, manifest.GitBlobID(small), f.main.Commit, "", int64(len(small))},
		{"If-Range mismatch gives all", "GET", "/acme/tiny/resolve/main/config.json", map[string]string{"Range": "bytes=0-1", "If-Range": `"other"`}, 200, small, manifest.GitBlobID(small), f.main.Commit, "", int64(len(small))},
		{"If-None-Match", "GET", "/acme/tiny/resolve/main/model.safetensors", map[string]string{"If-None-Match": `"` + sha(big) + `"`}, 304, []byte{}, sha(big), f.main.Commit, "", -1},
		{"raw LFS is the pointer", "GET", "/acme/tiny/raw/main/model.safetensors", nil, 200, manifest.LFSPointer(sha(big), int64(len(big))), f.main.Files[1].BlobID, f.main.Commit, "", int64(len(manifest.LFSPointer(sha(big), int64(len(big)))))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, f.url+tc.path, tc.hdr, nil)
			if r.status != tc.status {
				t.Fatalf("%s %s status = %d (%s), want %d", tc.method, tc.path, r.status, truncate(r.body), tc.status)
			}
			if got := r.h.Get("X-Repo-Commit"); got != tc.commit {
				t.Errorf("X-Repo-Commit = %q, want %q", got, tc.commit)
			}
			if tc.etag != "" {
				for _, k := range []string{"ETag", "X-Linked-Etag"} {
					if got := r.h.Get(k); got != `"`+tc.etag+`"` {
						t.Errorf("%s = %s, want %q", k, got, tc.etag)
					}
				}
			}
			if got := r.h.Get("Content-Range"); got != tc.contentRange {
				t.Errorf("Content-Range = %q, want %q", got, tc.contentRange)
			}
			if tc.length >= 0 {
				if got := r.h.Get("Content-Length"); got != strconv.FormatInt(tc.length, 10) {
					t.Errorf("Content-Length = %s, want %d", got, tc.length)
				}
			}
			if tc.status/100 == 2 {
				if r.h.Get("Accept-Ranges") != "bytes" {
					t.Errorf("Accept-Ranges = %q, want bytes", r.h.Get("Accept-Ranges"))
				}
				if r.h.Get("X-Linked-Size") == "" || r.h.Get("Content-Type") == "" {
					t.Errorf("X-Linked-Size = %q, Content-Type = %q, want both set", r.h.Get("X-Linked-Size"), r.h.Get("Content-Type"))
				}
				for k := range r.h {
					if strings.HasPrefix(strings.ToLower(k), "x-xet") {
						t.Errorf("header %s present, want no Xet headers", k)
					}
				}
			}
			if tc.method == "HEAD" && len(r.body) != 0 {
				t.Errorf("HEAD body of %d bytes, want none", len(r.body))
			}
			if tc.method == "GET" && tc.body != nil && string(r.body) != string(tc.body) {
				t.Errorf("body: %d bytes (sha256 %s), want %d bytes (sha256 %s)", len(r.body), sha(r.body)[:12], len(tc.body), sha(tc.body)[:12])
			}
		})
	}
	t.Run("linked size", func(t *testing.T) {
		r := do(t, "GET", f.url+"/acme/tiny/resolve/main/model.safetensors", map[string]string{"Range": "bytes=0-0"}, nil)
		if got := r.h.Get("X-Linked-Size"); got != strconv.Itoa(len(big)) {
			t.Errorf("X-Linked-Size = %s, want %d", got, len(big))
		}
	})
}

func TestErrors(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		name, method, path string
		status             int
		code               string
		commit             string
	}{
		{"repo not found", "GET", "/acme/nope/resolve/main/config.json", 404, "RepoNotFound", ""},
		{"repo not found HEAD", "HEAD", "/acme/nope/resolve/main/config.json", 404, "RepoNotFound", ""},
		{"legacy one-part id", "GET", "/gpt2/resolve/main/config.json", 404, "RepoNotFound", ""},
		{"model is no dataset", "GET", "/datasets/acme/tiny/resolve/main/config.json", 404, "RepoNotFound", ""},
		{"revision not found", "GET", "/acme/tiny/resolve/v9/config.json", 404, "RevisionNotFound", ""},
		{"unknown commit", "GET", "/acme/tiny/resolve/" + strings.Repeat("ab", 20) + "/config.json", 404, "RevisionNotFound", ""},
		{"entry not found", "GET", "/acme/tiny/resolve/main/nope.bin", 404, "EntryNotFound", f.main.Commit},
		{"entry not found HEAD", "HEAD", "/acme/tiny/resolve/main/nope.bin", 404, "EntryNotFound", f.main.Commit},
		{"directory is no file", "GET", "/acme/tiny/resolve/main/sub", 404, "EntryNotFound", f.main.Commit},
		{"info repo not found", "GET", "/api/models/acme/nope", 404, "RepoNotFound", ""},
		{"info revision not found", "GET", "/api/models/acme/tiny/revision/v9", 404, "RevisionNotFound", ""},
		{"tree revision not found", "GET", "/api/models/acme/tiny/tree/v9", 404, "RevisionNotFound", ""},
		{"tree dir not found", "GET", "/api/models/acme/tiny/tree/main/nope", 404, "EntryNotFound", f.main.Commit},
		{"dataset not found", "GET", "/api/datasets/acme/nope", 404, "RepoNotFound", ""},
		{"dot-dot in path", "GET", "/acme/tiny/resolve/main/sub/../config.json", 400, "", ""},
		{"encoded dot-dot", "GET", "/acme/tiny/resolve/main/%2E%2E/config.json", 400, "", ""},
		{"dot-dot revision", "GET", "/acme/tiny/resolve/a%2F..%2Fb/config.json", 400, "", ""},
		{"no route", "GET", "/acme/tiny/blob/main/config.json", 404, "", ""},
		{"POST on resolve", "POST", "/acme/tiny/resolve/main/config.json", 405, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, f.url+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.RawPath = tc.path // keep %2E%2E as sent
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("%s %s status = %d, want %d", tc.method, tc.path, res.StatusCode, tc.status)
			}
			if got := res.Header.Get("X-Error-Code"); got != tc.code {
				t.Errorf("X-Error-Code = %q, want %q", got, tc.code)
			}
			if got := res.Header.Get("X-Repo-Commit"); got != tc.commit {
				t.Errorf("X-Repo-Commit = %q, want %q", got, tc.commit)
			}
			if res.Header.Get("X-Error-Message") == "" {
				t.Errorf("X-Error-Message empty")
			}
			if tc.method == "GET" {
				var body struct{ Error string }
				r := do(t, tc.method, f.url+tc.path, nil, nil)
				if tc.status != 400 {
					body = decode[struct{ Error string }](t, r.body)
					if body.Error == "" {
						t.Errorf("body %q: want {\"error\": ...}", truncate(r.body))
					}
				}
			}
		})
	}
}

var hubTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestInfo(t *testing.T) {
	f := newFixture(t, Options{})
	type info struct {
		ID, MongoID, ModelID, SHA, LastModified, CreatedAt, Author string
		Private, Gated, Disabled                                   bool
		Downloads, Likes                                           int
		Tags                                                       []string
		LibraryName                                                string `json:"library_name"`
		Siblings                                                   []struct {
			RFilename string
			Size      int64
			BlobID    string
			LFS       *struct {
				Size        int64
				SHA256      string
				PointerSize int
			}
		}
	}
	tests := []struct {
		name, path string
		m          *manifest.Manifest
		modelID    string
	}{
		{"model", "/api/models/acme/tiny", f.main, "acme/tiny"},
		{"model revision main", "/api/models/acme/tiny/revision/main", f.main, "acme/tiny"},
		{"model revision HEAD with expand", "/api/models/acme/tiny/revision/HEAD?expand%5B%5D=siblings&expand=sha", f.main, "acme/tiny"},
		{"model revision pr", "/api/models/acme/tiny/revision/refs%2Fpr%2F1", f.pr, "acme/tiny"},
		{"model revision by commit", "/api/models/acme/tiny/revision/" + f.pr.Commit, f.pr, "acme/tiny"},
		{"dataset", "/api/datasets/acme/data", f.data, ""},
		{"dataset revision", "/api/datasets/acme/data/revision/main", f.data, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "GET", f.url+tc.path, nil, nil)
			if r.status != 200 {
				t.Fatalf("GET %s = %d %s, want 200", tc.path, r.status, truncate(r.body))
			}
			if ce := r.h.Get("Content-Encoding"); ce != "" {
				t.Errorf("Content-Encoding = %q, want none", ce)
			}
			// Field names as the Hub spells them.
			raw := decode[map[string]any](t, r.body)
			for _, k := range []string{"id", "_id", "sha", "siblings", "lastModified", "createdAt", "private", "gated", "disabled", "tags", "downloads", "likes"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("field %q missing", k)
				}
			}
			if _, ok := raw["xetHash"]; ok {
				t.Errorf("xetHash present")
			}
			in := decode[info](t, r.body)
			in.MongoID, _ = raw["_id"].(string)
			if in.ID != tc.m.Repo || in.SHA != tc.m.Commit || in.ModelID != tc.modelID || in.Author != "acme" {
				t.Errorf("id, sha, modelId, author = %s %s %q %s, want %s %s %q acme", in.ID, in.SHA, in.ModelID, in.Author, tc.m.Repo, tc.m.Commit, tc.modelID)
			}
			if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(in.MongoID) {
				t.Errorf("_id = %q, want 24 hex", in.MongoID)
			}
			if !hubTimeRE.MatchString(in.LastModified) || !hubTimeRE.MatchString(in.CreatedAt) {
				t.Errorf("lastModified, createdAt = %q %q, want 2024-05-01T12:00:00.000Z form", in.LastModified, in.CreatedAt)
			}
			if in.Private || in.Gated || in.Disabled {
				t.Errorf("private, gated, disabled = %v %v %v, want false", in.Private, in.Gated, in.Disabled)
			}
			if len(in.Siblings) != len(tc.m.Files) {
				t.Fatalf("%d siblings, want %d", len(in.Siblings), len(tc.m.Files))
			}
			for i, s := range in.Siblings {
				mf := tc.m.Files[i]
				if s.RFilename != mf.Path || s.Size != mf.Size || s.BlobID != mf.BlobID {
					t.Errorf("sibling %d = %s %d %s, want %s %d %s", i, s.RFilename, s.Size, s.BlobID, mf.Path, mf.Size, mf.BlobID)
				}
				if (s.LFS != nil) != mf.LFS {
					t.Errorf("sibling %s lfs = %v, want %v", s.RFilename, s.LFS != nil, mf.LFS)
				} else if mf.LFS && (s.LFS.SHA256 != mf.SHA256 || s.LFS.Size != mf.Size || s.LFS.PointerSize != len(manifest.LFSPointer(mf.SHA256, mf.Size))) {
					t.Errorf("sibling %s lfs = %+v, want sha256 %s size %d", s.RFilename, *s.LFS, mf.SHA256, mf.Size)
				}
			}
			if tc.m == f.main && (in.LibraryName != "transformers" || !contains(in.Tags, "safetensors")) {
				t.Errorf("library_name, tags = %q %v, want transformers and safetensors", in.LibraryName, in.Tags)
			}
		})
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

type treeEntry struct {
	Type string
	Oid  string
	Size int64
	Path string
	LFS  *struct {
		Oid         string
		Size        int64
		PointerSize int
	}
	LastCommit *struct{ ID, Title, Date string }
}

func paths(es []treeEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Type[:1]+":"+e.Path)
	}
	return out
}

func TestTree(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		name, path string
		want       []string
	}{
		{"root", "/api/models/acme/tiny/tree/main", []string{"f:config.json", "f:model.safetensors", "d:sub", "f:tokenizer.json"}},
		{"root slash", "/api/models/acme/tiny/tree/main/", []string{"f:config.json", "f:model.safetensors", "d:sub", "f:tokenizer.json"}},
		{"recursive", "/api/models/acme/tiny/tree/main?recursive=true", []string{"f:config.json", "f:model.safetensors", "d:sub", "d:sub/deep", "f:sub/deep/x.txt", "f:sub/readme.txt", "f:tokenizer.json"}},
		{"recursive False", "/api/models/acme/tiny/tree/main?recursive=False", []string{"f:config.json", "f:model.safetensors", "d:sub", "f:tokenizer.json"}},
		{"subdir", "/api/models/acme/tiny/tree/main/sub", []string{"d:sub/deep", "f:sub/readme.txt"}},
		{"subdir recursive", "/api/models/acme/tiny/tree/main/sub?recursive=1", []string{"d:sub/deep", "f:sub/deep/x.txt", "f:sub/readme.txt"}},
		{"HEAD revision", "/api/models/acme/tiny/tree/HEAD/sub/deep", []string{"f:sub/deep/x.txt"}},
		{"raw pr revision", "/api/models/acme/tiny/tree/refs/pr/1", []string{"f:config.json"}},
		{"encoded pr revision", "/api/models/acme/tiny/tree/refs%2Fpr%2F1", []string{"f:config.json"}},
		{"dataset", "/api/datasets/acme/data/tree/main?recursive=true", []string{"f:README.md", "d:data", "f:data/train.parquet"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "GET", f.url+tc.path, nil, nil)
			if r.status != 200 {
				t.Fatalf("GET %s = %d %s", tc.path, r.status, truncate(r.body))
			}
			es := decode[[]treeEntry](t, r.body)
			if got := paths(es); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("GET %s = %v, want %v", tc.path, got, tc.want)
			}
			for _, e := range es {
				if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(e.Oid) {
					t.Errorf("%s oid = %q, want 40 hex", e.Path, e.Oid)
				}
				if e.Type == "file" {
					m := f.main
					if strings.Contains(tc.path, "datasets") {
						m = f.data
					} else if strings.Contains(tc.path, "pr") {
						m = f.pr
					}
					mf, _ := m.File(e.Path)
					if e.Oid != mf.BlobID || e.Size != mf.Size || (e.LFS != nil) != mf.LFS {
						t.Errorf("%s = oid %s size %d lfs %v, want %s %d %v", e.Path, e.Oid, e.Size, e.LFS != nil, mf.BlobID, mf.Size, mf.LFS)
					}
					if mf.LFS && (e.LFS.Oid != mf.SHA256 || e.LFS.Size != mf.Size || e.LFS.PointerSize == 0) {
						t.Errorf("%s lfs = %+v, want oid %s", e.Path, *e.LFS, mf.SHA256)
					}
				}
			}
		})
	}
	t.Run("expand", func(t *testing.T) {
		r := do(t, "GET", f.url+"/api/models/acme/tiny/tree/main?expand=true", nil, nil)
		for _, e := range decode[[]treeEntry](t, r.body) {
			if e.LastCommit == nil || e.LastCommit.ID != f.main.Commit || !hubTimeRE.MatchString(e.LastCommit.Date) {
				t.Errorf("%s lastCommit = %+v, want commit %s", e.Path, e.LastCommit, f.main.Commit)
			}
		}
	})
	t.Run("pagination", func(t *testing.T) {
		full := decode[[]treeEntry](t, do(t, "GET", f.url+"/api/models/acme/tiny/tree/main?recursive=true", nil, nil).body)
		var got []treeEntry
		next := f.url + "/api/models/acme/tiny/tree/main?recursive=true&limit=2"
		pages := 0
		for next != "" && pages < 10 {
			r := do(t, "GET", next, nil, nil)
			if r.status != 200 {
				t.Fatalf("GET %s = %d", next, r.status)
			}
			page := decode[[]treeEntry](t, r.body)
			if len(page) > 2 {
				t.Errorf("page of %d entries, want at most 2", len(page))
			}
			got = append(got, page...)
			next = ""
			if l := r.h.Get("Link"); l != "" {
				m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("Link = %q, want <URL>; rel=\"next\"", l)
				}
				if u, err := url.Parse(m[1]); err != nil || !u.IsAbs() {
					t.Fatalf("Link URL %q is not absolute", m[1])
				}
				next = m[1]
			}
			pages++
		}
		if pages != 4 || strings.Join(paths(got), " ") != strings.Join(paths(full), " ") {
			t.Errorf("%d pages %v, want 4 pages of %v", pages, paths(got), paths(full))
		}
	})
	t.Run("bad cursor", func(t *testing.T) {
		if r := do(t, "GET", f.url+"/api/models/acme/tiny/tree/main?cursor=%21%21", nil, nil); r.status != 400 {
			t.Errorf("bad cursor status = %d, want 400", r.status)
		}
	})
}

// TestTreeOid checks directory oids against git's own tree ids, computed
// once with `git mktree` over the same blob ids:
//
//	d:    printf '100644 blob <id of "x">\te\n' | git mktree
//	root: a, b.txt ("hello\n"), d (the tree above, mode 040000), d.txt
//	      listed the same way | git mktree
func TestTreeOid(t *testing.T) {
	m := &manifest.Manifest{Files: []manifest.File{
		{Path: "a", BlobID: manifest.GitBlobID([]byte("x"))},
		{Path: "b.txt", BlobID: manifest.GitBlobID([]byte("hello\n"))},
		{Path: "d/e", BlobID: manifest.GitBlobID([]byte("x"))},
		{Path: "d.txt", BlobID: manifest.GitBlobID([]byte("x"))},
	}}
	root := buildTree(m)
	if got, want := root.find("d").oid, "77e6e605be0e7d2e4148cc07ad614a563e4f2c7b"; got != want {
		t.Errorf("tree oid of d = %s, want %s (git mktree)", got, want)
	}
	if got, want := root.oid, "00d35b5b45e25dd1ad0b6119407b3fc932c520d4"; got != want {
		t.Errorf("tree oid of root = %s, want %s (git mktree)", got, want)
	}
}

func TestPathsInfo(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		name, path, ctype, body string
		status                  int
		want                    []string
		expand                  bool
	}{
		{"form", "/api/models/acme/tiny/paths-info/main", "application/x-www-form-urlencoded",
			url.Values{"paths": {"config.json", "sub", "nope.txt", "model.safetensors"}}.Encode(), 200,
			[]string{"f:config.json", "d:sub", "f:model.safetensors"}, false},
		{"form expand", "/api/models/acme/tiny/paths-info/main", "application/x-www-form-urlencoded",
			"paths=sub%2Fdeep%2Fx.txt&expand=True", 200, []string{"f:sub/deep/x.txt"}, true},
		{"json", "/api/models/acme/tiny/paths-info/main", "application/json",
			`{"paths": ["tokenizer.json", "sub/deep"], "expand": false}`, 200, []string{"f:tokenizer.json", "d:sub/deep"}, false},
		{"json expand", "/api/models/acme/tiny/paths-info/HEAD", "application/json",
			`{"paths": ["config.json"], "expand": true}`, 200, []string{"f:config.json"}, true},
		{"pr revision", "/api/models/acme/tiny/paths-info/refs%2Fpr%2F1", "application/json",
			`{"paths": ["config.json", "model.safetensors"]}`, 200, []string{"f:config.json"}, false},
		{"dataset", "/api/datasets/acme/data/paths-info/main", "application/json",
			`{"paths": ["data/train.parquet"]}`, 200, []string{"f:data/train.parquet"}, false},
		{"bad json", "/api/models/acme/tiny/paths-info/main", "application/json", `{"paths": `, 400, nil, false},
		{"dot-dot path", "/api/models/acme/tiny/paths-info/main", "application/json", `{"paths": ["../x"]}`, 400, nil, false},
		{"revision not found", "/api/models/acme/tiny/paths-info/v9", "application/json", `{"paths": ["x"]}`, 404, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", f.url+tc.path, map[string]string{"Content-Type": tc.ctype}, strings.NewReader(tc.body))
			if r.status != tc.status {
				t.Fatalf("POST %s = %d %s, want %d", tc.path, r.status, truncate(r.body), tc.status)
			}
			if tc.status != 200 {
				return
			}
			es := decode[[]treeEntry](t, r.body)
			if got := paths(es); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("paths-info = %v, want %v", got, tc.want)
			}
			for _, e := range es {
				if (e.LastCommit != nil) != tc.expand {
					t.Errorf("%s lastCommit present = %v, want %v", e.Path, e.LastCommit != nil, tc.expand)
				}
			}
		})
	}
}

func TestTokens(t *testing.T) {
	pol, err := sovereignty.ParsePolicy([]byte("repos:\n  - match: \"acme/tiny\"\n    hold: [DE]\n    receive: [DE]\n  - match: \"*\"\n    hold: [DE, FR]\n    receive: [DE, FR]\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Options{Decider: pol, Tokens: []Token{{Token: "open"}, {Token: "de", Jurisdiction: "DE"}, {Token: "fr", Jurisdiction: "FR"}, {Token: "us", Jurisdiction: "US"}}})
	tests := []struct {
		name, path, auth string
		status           int
		code, message    string
	}{
		{"no token", "/acme/tiny/resolve/main/config.json", "", 401, "", ""},
		{"wrong token", "/acme/tiny/resolve/main/config.json", "Bearer nope", 401, "", "Invalid credentials in Authorization header"},
		{"not bearer", "/acme/tiny/resolve/main/config.json", "Basic b3Blbg==", 401, "", ""},
		{"open token", "/acme/tiny/resolve/main/config.json", "Bearer open", 200, "", ""},
		{"open token info", "/api/models/acme/tiny", "Bearer open", 200, "", ""},
		{"DE allowed", "/acme/tiny/resolve/main/model.safetensors", "Bearer de", 200, "", ""},
		{"FR refused", "/acme/tiny/resolve/main/model.safetensors", "Bearer fr", 403, "GatedRepo", ""},
		{"FR refused info", "/api/models/acme/tiny", "Bearer fr", 403, "GatedRepo", ""},
		{"FR refused tree", "/api/models/acme/tiny/tree/main", "Bearer fr", 403, "GatedRepo", ""},
		{"FR allowed other repo", "/datasets/acme/data/resolve/main/README.md", "Bearer fr", 200, "", ""},
		{"US refused other repo", "/datasets/acme/data/resolve/main/README.md", "Bearer us", 403, "GatedRepo", ""},
		{"whoami no token", "/api/whoami-v2", "", 401, "", ""},
		{"whoami", "/api/whoami-v2", "Bearer de", 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.auth != "" {
				hdr["Authorization"] = tc.auth
			}
			r := do(t, "GET", f.url+tc.path, hdr, nil)
			if r.status != tc.status {
				t.Fatalf("GET %s with %q = %d %s, want %d", tc.path, tc.auth, r.status, truncate(r.body), tc.status)
			}
			if got := r.h.Get("X-Error-Code"); got != tc.code {
				t.Errorf("X-Error-Code = %q, want %q", got, tc.code)
			}
			if tc.message != "" && r.h.Get("X-Error-Message") != tc.message {
				t.Errorf("X-Error-Message = %q, want %q", r.h.Get("X-Error-Message"), tc.message)
			}
			if tc.status != 200 && r.h.Get("X-Repo-Commit") != "" {
				t.Errorf("refusal carries X-Repo-Commit %s", r.h.Get("X-Repo-Commit"))
			}
		})
	}
	t.Run("list filtered by jurisdiction", func(t *testing.T) {
		for _, tc := range []struct{ auth, want string }{{"Bearer de", "acme/tiny"}, {"Bearer fr", ""}, {"Bearer open", "acme/tiny"}} {
			r := do(t, "GET", f.url+"/api/models", map[string]string{"Authorization": tc.auth}, nil)
			var ids []string
			for _, in := range decode[[]struct{ ID string }](t, r.body) {
				ids = append(ids, in.ID)
			}
			if strings.Join(ids, ",") != tc.want {
				t.Errorf("list with %s = %v, want %q", tc.auth, ids, tc.want)
			}
		}
	})
	t.Run("no decider refuses bound tokens", func(t *testing.T) {
		srv := serve(t, f.st, Options{Tokens: []Token{{Token: "de", Jurisdiction: "DE"}}})
		r := do(t, "GET", srv.URL+"/acme/tiny/resolve/main/config.json", map[string]string{"Authorization": "Bearer de"}, nil)
		if r.status != 403 || r.h.Get("X-Error-Code") != "GatedRepo" {
			t.Errorf("status, code = %d %q, want 403 GatedRepo", r.status, r.h.Get("X-Error-Code"))
		}
	})
}

func TestListRefsWhoami(t *testing.T) {
	f := newFixture(t, Options{})
	add(t, f.st, manifest.Model, "other/big", "main", map[string][]byte{"a.txt": []byte("a")})
	tests := []struct {
		path string
		want []string
	}{
		{"/api/models", []string{"acme/tiny", "other/big"}},
		{"/api/models?search=TIN", []string{"acme/tiny"}},
		{"/api/models?author=other", []string{"other/big"}},
		{"/api/models?author=nobody", nil},
		{"/api/datasets", []string{"acme/data"}},
	}
	for _, tc := range tests {
		r := do(t, "GET", f.url+tc.path, nil, nil)
		var ids []string
		for _, in := range decode[[]struct{ ID, SHA string }](t, r.body) {
			ids = append(ids, in.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
			t.Errorf("GET %s = %v, want %v", tc.path, ids, tc.want)
		}
	}
	r := do(t, "GET", f.url+"/api/models?limit=1", nil, nil)
	if len(decode[[]any](t, r.body)) != 1 || !strings.Contains(r.h.Get("Link"), "cursor=") {
		t.Errorf("list limit=1: %s, Link %q, want one entry and a next link", truncate(r.body), r.h.Get("Link"))
	}
	refs := decode[map[string][]struct{ Name, Ref, TargetCommit string }](t, do(t, "GET", f.url+"/api/models/acme/tiny/refs", nil, nil).body)
	if len(refs["branches"]) != 1 || refs["branches"][0].TargetCommit != f.main.Commit || len(refs["pullRequests"]) != 1 || refs["pullRequests"][0].TargetCommit != f.pr.Commit {
		t.Errorf("refs = %+v, want main and refs/pr/1", refs)
	}
	who := decode[struct{ Name, Type string }](t, do(t, "GET", f.url+"/api/whoami-v2", nil, nil).body)
	if who.Name == "" || who.Type != "user" {
		t.Errorf("whoami = %+v, want a user", who)
	}
}

func TestMissingBlockCutsBody(t *testing.T) {
	f := newFixture(t, Options{})
	mf, _ := f.main.File("model.safetensors")
	var leaves []cid.Cid
	err := chunker.Walk(t.Context(), f.st, mf.CID, func(c cid.Cid, _ blocks.Block) error {
		if c.Type() == cid.Raw {
			leaves = append(leaves, c)
		}
		return nil
	})
	if err != nil || len(leaves) < 3 {
		t.Fatalf("walk %s = %d leaves, %v; want at least 3", mf.CID, len(leaves), err)
	}
	if err := f.st.DeleteBlock(t.Context(), leaves[len(leaves)/2]); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", f.url+"/acme/tiny/resolve/main/model.safetensors", nil)
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		b, rerr := io.ReadAll(res.Body)
		res.Body.Close()
		if rerr == nil {
			t.Errorf("GET with a missing block = %d of %d bytes and no error, want a cut body", len(b), mf.Size)
		}
	}
	if st := f.srv.Stats(); st.Failed == 0 {
		t.Errorf("Stats().Failed = 0 after a cut body, want > 0")
	}
}

func TestStats(t *testing.T) {
	f := newFixture(t, Options{})
	do(t, "GET", f.url+"/acme/tiny/resolve/main/config.json", nil, nil)
	do(t, "GET", f.url+"/acme/tiny/resolve/main/model.safetensors", map[string]string{"Range": "bytes=10-19"}, nil)
	do(t, "GET", f.url+"/acme/nope/resolve/main/x", nil, nil)
	st := f.srv.Stats()
	want := Stats{Requests: 3, FilesServed: 2, BytesServed: int64(len(f.files["config.json"]) + 10), NotFound: 1}
	if st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
}
