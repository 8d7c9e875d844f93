package mirror

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/hfapi"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// upstream is a Hub for tests: Cairn's own hfapi server over a store of
// its own, behind faults the Hub shows in real life (gated 401s, 500s,
// connections cut mid-body, a body stalled mid-way, a corrupted body).
type upstream struct {
	srv *httptest.Server
	st  *store.Store

	mu       sync.Mutex
	token    string         // required bearer token, if set
	fail     map[string]int // URL path → 500s still to answer
	cut      map[string]int // URL path → bodies still to cut after cutAt bytes
	cutAt    int
	stall    map[string]int // URL path → body bytes after which it stalls until the client goes away
	corrupt  string         // URL path whose body has a byte flipped
	redirect string         // URL path answered with a redirect to this URL
	reqs     []seen
}

type seen struct {
	path, rng string
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{st: openStore(t), fail: map[string]int{}, cut: map[string]int{}, stall: map[string]int{}}
	api, err := hfapi.New(u.st, hfapi.Options{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{r.URL.Path, r.Header.Get("Range")})
		token, redirect := u.token, u.redirect
		fail := u.fail[r.URL.Path] > 0
		if fail {
			u.fail[r.URL.Path]--
		}
		cut := u.cut[r.URL.Path] > 0
		if cut {
			u.cut[r.URL.Path]--
		}
		corrupt := u.corrupt == r.URL.Path
		stallAt, stall := u.stall[r.URL.Path]
		u.mu.Unlock()
		switch {
		case token != "" && r.Header.Get("Authorization") != "Bearer "+token:
			w.Header().Set("X-Error-Code", "GatedRepo")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "Access to this repo is restricted."})
			return
		case fail:
			http.Error(w, "upstream hiccup", http.StatusInternalServerError)
			return
		case redirect != "" && strings.Contains(r.URL.Path, "/resolve/") && r.URL.Query().Get("direct") == "":
			http.Redirect(w, r, redirect+r.URL.Path, http.StatusFound)
			return
		}
		var fw http.ResponseWriter = w
		if cut || corrupt || stall {
			fw = &faultWriter{ResponseWriter: w, cutAt: -1, flipAt: -1, stallAt: -1, gone: r.Context().Done()}
			if stall {
				fw.(*faultWriter).stallAt = stallAt
			}
			if cut {
				fw.(*faultWriter).cutAt = u.cutAt
			}
			if corrupt {
				fw.(*faultWriter).flipAt = 1000
			}
		}
		api.ServeHTTP(fw, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

// faultWriter cuts the connection after cutAt body bytes, stalls after
// stallAt until the client has gone, or flips the body byte at flipAt.
type faultWriter struct {
	http.ResponseWriter
	n                      int
	cutAt, stallAt, flipAt int
	gone                   <-chan struct{}
}

func (f *faultWriter) Write(p []byte) (int, error) {
	if f.flipAt >= f.n && f.flipAt < f.n+len(p) {
		p = bytes.Clone(p)
		p[f.flipAt-f.n] ^= 0xff
	}
	if f.cutAt >= 0 && f.n+len(p) > f.cutAt {
		k := f.cutAt - f.n
		f.ResponseWriter.Write(p[:k])
		f.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	if f.stallAt >= 0 && f.n+len(p) > f.stallAt {
		f.ResponseWriter.Write(p[:f.stallAt-f.n])
		f.ResponseWriter.(http.Flusher).Flush()
		<-f.gone
		panic(http.ErrAbortHandler)
	}
	f.n += len(p)
	return f.ResponseWriter.Write(p)
}

func (f *faultWriter) Flush() { f.ResponseWriter.(http.Flusher).Flush() }

func stFile(n int, seed uint64) []byte {
	hdr := []byte(`{"w":{"dtype":"U8","shape":[` + itoa(n) + `],"data_offsets":[0,` + itoa(n) + `]}}`)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	out = append(out, hdr...)
	return append(out, randBytes(seed, n)...)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func modelFiles() map[string][]byte {
	return map[string][]byte{
		"config.json":       []byte(`{"model_type":"llama"}`),
		"model.safetensors": stFile(3<<20, 1),
		"tokenizer.json":    randBytes(2, 300<<10),
		"nested/README.md":  []byte("# hello\n"),
	}
}

func opts(t *testing.T, u *upstream) Options {
	return Options{Endpoint: u.srv.URL, SpoolDir: filepath.Join(t.TempDir(), "spool"), Backoff: time.Millisecond}
}

func checkMirrored(t *testing.T, u *upstream, st *store.Store, want *manifest.Manifest, res *Result, rev string) {
	t.Helper()
	got := res.Manifest
	if got.Commit != want.Commit || !got.Created.Equal(want.Created) || got.Type != want.Type {
		t.Fatalf("mirrored %s = commit %s created %v, want %s %v", want.Repo, got.Commit, got.Created, want.Commit, want.Created)
	}
	for _, name := range []string{rev, want.Commit} {
		m, err := st.Resolve(t.Context(), want.Type, want.Repo, name)
		if err != nil || m.Commit != want.Commit {
			t.Fatalf("Resolve(%s@%s) = %v, %v", want.Repo, name, m, err)
		}
	}
	a, b := readAll(t, u.st, want), readAll(t, st, got)
	if len(a) != len(b) {
		t.Fatalf("%d files mirrored, upstream has %d", len(b), len(a))
	}
	for p := range a {
		if !bytes.Equal(a[p], b[p]) {
			t.Errorf("%s: bytes differ from upstream", p)
		}
	}
	for i, f := range got.Files {
		w := want.Files[i]
		if f.Path != w.Path || f.SHA256 != w.SHA256 || f.BlobID != w.BlobID || f.LFS != w.LFS {
			t.Errorf("file %s = %+v, want %+v", f.Path, f, w)
		}
	}
}

func TestMirrorModelAndDataset(t *testing.T) {
	u := newUpstream(t)
	wantM := add(t, u.st, manifest.Model, "acme/m", "main", modelFiles())
	wantD := add(t, u.st, manifest.Dataset, "acme/d", "v1", map[string][]byte{
		"data/train-00000.parquet": randBytes(3, 2<<20),
		"data/test.csv":            []byte("a,b\n1,2\n"),
	})
	st := openStore(t)
	var last int64
	o := opts(t, u)
	o.Progress = func(done, total int64) { last = done }
	res, err := Mirror(t.Context(), st, "acme/m", o)
	if err != nil {
		t.Fatalf("Mirror(model) = %v", err)
	}
	checkMirrored(t, u, st, wantM, res, "main")
	if last != wantM.TotalSize() {
		t.Errorf("progress ended at %d, want %d", last, wantM.TotalSize())
	}

	o = opts(t, u)
	o.Kind, o.Revision = manifest.Dataset, "v1"
	res, err = Mirror(t.Context(), st, "acme/d", o)
	if err != nil {
		t.Fatalf("Mirror(dataset) = %v", err)
	}
	checkMirrored(t, u, st, wantD, res, "v1")
	if ents, _ := os.ReadDir(o.SpoolDir + "/dataset/acme/d"); len(ents) != 0 {
		t.Errorf("spool left behind: %v", ents)
	}

	// Mirroring again downloads nothing.
	res, err = Mirror(t.Context(), st, "acme/m", opts(t, u))
	if err != nil || res.Downloaded != 0 || res.Skipped != len(wantM.Files) {
		t.Fatalf("second Mirror = %+v, %v; want nothing downloaded", res, err)
	}

	_, err = Mirror(t.Context(), st, "acme/none", opts(t, u))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Mirror(missing repo) = %v, want ErrNotFound", err)
	}
}

func TestMirrorNewRevisionFetchesOnlyChanges(t *testing.T) {
	u := newUpstream(t)
	add(t, u.st, manifest.Model, "acme/m", "main", modelFiles())
	st := openStore(t)
	if _, err := Mirror(t.Context(), st, "acme/m", opts(t, u)); err != nil {
		t.Fatal(err)
	}
	files := modelFiles()
	files["model.safetensors"] = stFile(3<<20, 99)
	want := add(t, u.st, manifest.Model, "acme/m", "main", files)
	before := len(u.requests())
	res, err := Mirror(t.Context(), st, "acme/m", opts(t, u))
	if err != nil {
		t.Fatal(err)
	}
	checkMirrored(t, u, st, want, res, "main")
	var resolves []string
	for _, r := range u.requests()[before:] {
		if strings.Contains(r.path, "/resolve/") {
			resolves = append(resolves, r.path)
		}
	}
	if len(resolves) != 1 || !strings.HasSuffix(resolves[0], "/model.safetensors") || res.Skipped != 3 {
		t.Fatalf("files fetched for the new revision = %v (skipped %d), want only model.safetensors", resolves, res.Skipped)
	}
}

func TestMirrorCorruptBodyRefused(t *testing.T) {
	for _, file := range []string{"model.safetensors", "tokenizer.json"} {
		t.Run(file, func(t *testing.T) {
			u := newUpstream(t)
			m := add(t, u.st, manifest.Model, "acme/m", "main", modelFiles())
			u.corrupt = "/acme/m/resolve/" + m.Commit + "/" + file
			st := openStore(t)
			_, err := Mirror(t.Context(), st, "acme/m", opts(t, u))
			if !errors.Is(err, ErrDigest) || !strings.Contains(err.Error(), file) {
				t.Fatalf("Mirror(corrupt %s) = %v, want ErrDigest naming the file", file, err)
			}
			if refs, err := st.Refs(t.Context(), "", ""); len(refs) != 0 {
				t.Fatalf("refs after a refused mirror = %v, %v", refs, err)
			}
		})
	}
}

func TestMirrorRetries500(t *testing.T) {
	u := newUpstream(t)
	m := add(t, u.st, manifest.Model, "acme/m", "main", modelFiles())
	u.fail["/api/models/acme/m/revision/main"] = 2
	u.fail["/acme/m/resolve/"+m.Commit+"/model.safetensors"] = 3
	st := openStore(t)
	res, err := Mirror(t.Context(), st, "acme/m", opts(t, u))
	if err != nil {
		t.Fatalf("Mirror(flaky) = %v", err)
	}
	checkMirrored(t, u, st, m, res, "main")

	// Bounded: more failures than retries is an error naming the status.
	u.fail["/api/models/acme/m/revision/main"] = 100
	o := opts(t, u)
	o.Retries = 2
	_, err = Mirror(t.Context(), openStore(t), "acme/m", o)
	if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "after 2 retries") {
		t.Fatalf("Mirror(always 500) = %v, want a 500 after 2 retries", err)
	}
}

func TestMirrorGated(t *testing.T) {
	u := newUpstream(t)
	m := add(t, u.st, manifest.Model, "acme/gated", "main", modelFiles())
	u.token = "hf_secret"
	st := openStore(t)
	_, err := Mirror(t.Context(), st, "acme/gated", opts(t, u))
	if !errors.Is(err, ErrGated) || !strings.Contains(err.Error(), "upstream.token") {
		t.Fatalf("Mirror(gated, no token) = %v, want ErrGated telling to set upstream.token", err)
	}
	o := opts(t, u)
	o.Token = "hf_secret"
	res, err := Mirror(t.Context(), st, "acme/gated", o)
	if err != nil {
		t.Fatalf("Mirror(gated, token) = %v", err)
	}
	checkMirrored(t, u, st, m, res, "main")
}

func TestMirrorOffline(t *testing.T) {
	u := newUpstream(t)
	add(t, u.st, manifest.Model, "acme/m", "main", modelFiles())
	o := opts(t, u)
	o.Offline = true
	_, err := Mirror(t.Context(), openStore(t), "acme/m", o)
	if !errors.Is(err, ErrOffline) {
		t.Fatalf("Mirror(offline) = %v, want ErrOffline", err)
	}
	if n := len(u.requests()); n != 0 {
		t.Fatalf("offline mirror made %d requests", n)
	}
}

func TestMirrorRedirectToOtherHostRefused(t *testing.T) {
	u := newUpstream(t)
	add(t, u.st, manifest.Model, "acme/m", "main", modelFiles())
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("other host contacted: %s", r.URL)
	}))
	defer other.Close()
	u.redirect = other.URL
	_, err := Mirror(t.Context(), openStore(t), "acme/m", opts(t, u))
	if !errors.Is(err, ErrRedirect) {
		t.Fatalf("Mirror(redirect elsewhere) = %v, want ErrRedirect", err)
	}
}

// The Hub serves large files from its CDN: a redirect to a host named in
// RedirectHosts is followed over https, without the token.
func TestMirrorRedirectToCDN(t *testing.T) {
	u := newUpstream(t)
	m := add(t, u.st, manifest.Model, "acme/m", "main", modelFiles())
	cdn := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			t.Errorf("token sent to the CDN: %q", a)
		}
		resp, err := http.Get(u.srv.URL + r.URL.Path + "?direct=1")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Length", resp.Header.Get("Content-Length"))
		io.Copy(w, resp.Body)
	}))
	defer cdn.Close()
	u.redirect = cdn.URL
	o := opts(t, u)
	o.Client = cdn.Client()
	o.RedirectHosts = []string{"127.0.0.1"}
	res, err := Mirror(t.Context(), openStore(t), "acme/m", o)
	if err != nil {
		t.Fatalf("Mirror via CDN: %v", err)
	}
	if res.Manifest.Commit != m.Commit {
		t.Errorf("commit = %s, want %s", res.Manifest.Commit, m.Commit)
	}
}

func TestMirrorResume(t *testing.T) {
	u := newUpstream(t)
	m := add(t, u.st, manifest.Model, "acme/m", "main", modelFiles())
	big := "/acme/m/resolve/" + m.Commit + "/model.safetensors"
	u.cutAt = 1 << 20

	// Within a run: the cut transfer goes on from where it stopped.
	u.cut[big] = 1
	st := openStore(t)
	res, err := Mirror(t.Context(), st, "acme/m", opts(t, u))
	if err != nil {
		t.Fatalf("Mirror(cut once) = %v", err)
	}
	checkMirrored(t, u, st, m, res, "main")
	if rngs := rangesOf(u.requests(), big); len(rngs) != 2 || rngs[0] != "" || rngs[1] != "bytes=1048576-" {
		t.Fatalf("requests of the cut file had ranges %q, want [\"\" \"bytes=1048576-\"]", rngs)
	}

	// Across runs: the first run gives up, the second resumes from the
	// spooled bytes. The tokenizer's body stalls mid-way in the first run,
	// so that run's failure always cancels a transfer under way.
	tok := "/acme/m/resolve/" + m.Commit + "/tokenizer.json"
	u.mu.Lock()
	u.reqs = nil
	u.stall[tok] = 100 << 10
	u.mu.Unlock()
	u.cut[big] = 2
	st = openStore(t)
	o := opts(t, u)
	o.Retries = 1
	u.cutAt = 512 << 10
	if _, err := Mirror(t.Context(), st, "acme/m", o); err == nil {
		t.Fatal("Mirror(cut twice, 1 retry) succeeded")
	}
	if refs, _ := st.Refs(t.Context(), "", ""); len(refs) != 0 {
		t.Fatalf("refs after a failed mirror: %v", refs)
	}
	u.mu.Lock()
	delete(u.stall, tok)
	u.mu.Unlock()
	// The failure cancels the other files wherever they are (not started,
	// mid-body, imported): what the second run must fetch is exactly what
	// the first left out of the spool, never a byte it spooled.
	spool := filepath.Join(o.SpoolDir, string(manifest.Model), "acme/m", m.Commit)
	need := leftToFetch(t, spool, modelFiles())
	if want := int64(len(modelFiles()["model.safetensors"])) - 1<<20; need["model.safetensors"] != want {
		t.Fatalf("after the failed run the big file misses %d bytes, want %d (both cut bodies spooled)", need["model.safetensors"], want)
	}
	before := len(u.requests())
	res, err = Mirror(t.Context(), st, "acme/m", o)
	if err != nil {
		t.Fatalf("Mirror(resumed run) = %v", err)
	}
	checkMirrored(t, u, st, m, res, "main")
	rngs := rangesOf(u.requests(), big)
	if len(rngs) != 3 || rngs[1] != "bytes=524288-" || rngs[2] != "bytes=1048576-" {
		t.Fatalf("ranges across runs = %q, want [\"\" bytes=524288- bytes=1048576-]", rngs)
	}
	var sum int64
	for p, b := range modelFiles() {
		sum += need[p]
		got := rangesOf(u.requests()[before:], "/acme/m/resolve/"+m.Commit+"/"+p)
		var want []string
		switch have := int64(len(b)) - need[p]; {
		case need[p] == 0:
		case have == 0:
			want = []string{""}
		default:
			want = []string{fmt.Sprintf("bytes=%d-", have)}
		}
		if !slices.Equal(got, want) {
			t.Errorf("second run asked for %s with ranges %q, want %q (%d of %d bytes spooled)", p, got, want, int64(len(b))-need[p], len(b))
		}
	}
	if res.Downloaded != sum {
		t.Errorf("second run downloaded %d bytes, want %d: only what the first left out of the spool", res.Downloaded, sum)
	}
}

// leftToFetch reads a spool a failed run left: per file, the bytes a
// resuming run must still download (none of a file journalled done, the
// tail of a partial one, all of one never started).
func leftToFetch(t *testing.T, spool string, files map[string][]byte) map[string]int64 {
	t.Helper()
	need := map[string]int64{}
	for p, b := range files {
		name := spoolName(spool, p)
		if _, err := os.Stat(name + ".done"); err == nil {
			need[p] = 0
			continue
		}
		fi, err := os.Stat(name + ".part")
		switch {
		case errors.Is(err, os.ErrNotExist):
			need[p] = int64(len(b))
		case err != nil:
			t.Fatal(err)
		default:
			need[p] = int64(len(b)) - fi.Size()
		}
	}
	return need
}

func rangesOf(reqs []seen, path string) []string {
	var out []string
	for _, r := range reqs {
		if r.path == path {
			out = append(out, r.rng)
		}
	}
	return out
}

func TestMirrorAsksThePolicyFirst(t *testing.T) {
	u := newUpstream(t)
	add(t, u.st, manifest.Model, "acme/m", "main", modelFiles())
	o := opts(t, u)
	o.Policy = refuseRepo("acme/m")
	dst := openStore(t)
	if _, err := Mirror(t.Context(), dst, "acme/m", o); err == nil || !strings.Contains(err.Error(), "may not hold acme/m") {
		t.Fatalf("Mirror under a refusing policy = %v", err)
	}
	if n := len(u.requests()); n != 0 {
		t.Fatalf("a refused mirror made %d requests upstream", n)
	}
	o.Policy = refuseRepo("acme/other")
	if _, err := Mirror(t.Context(), dst, "acme/m", o); err != nil {
		t.Fatalf("Mirror under an allowing policy: %v", err)
	}
}
