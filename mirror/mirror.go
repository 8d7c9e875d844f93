package mirror

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"golang.org/x/sync/errgroup"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrOffline: the node is configured offline; nothing was dialled.
	ErrOffline = errors.New("upstream is off (upstream.offline: true)")
	// ErrGated: the upstream refused access (401/403), e.g. a gated repo
	// without a token or with one that lacks access.
	ErrGated = errors.New("upstream refused access")
	// ErrNotFound: the upstream has no such repo, revision or file.
	ErrNotFound = errors.New("not found upstream")
	// ErrDigest: what arrived does not match the upstream's sha256 or git
	// blob id. Nothing was committed.
	ErrDigest = errors.New("digest mismatch")
	// ErrRedirect: the upstream redirected to another host.
	ErrRedirect = errors.New("redirect to another host refused")
)

// DefaultEndpoint is the Hugging Face Hub.
const DefaultEndpoint = "https://huggingface.co"

// Options configure one Mirror call. The zero value (with SpoolDir set)
// is the default.
type Options struct {
	// Endpoint is the upstream Hub's base URL. Default DefaultEndpoint.
	Endpoint string
	// Token is sent as "Authorization: Bearer TOKEN" to the endpoint (gated
	// repos). Default none.
	Token string
	// Offline refuses to mirror at all, without dialling. Default false.
	Offline bool
	// Kind is model or dataset. Default model.
	Kind manifest.Kind
	// Revision is the upstream revision (branch, tag or commit) and the ref
	// name it gets here. Default "main".
	Revision string
	// SpoolDir holds partial downloads between attempts and runs.
	// Required; files are removed once their revision is committed.
	SpoolDir string
	// Workers is how many files download at once. Default 4.
	Workers int
	// Retries bounds the retries of one request after a 5xx, 429 or a
	// connection error. Default 5.
	Retries int
	// Backoff is the first retry's delay, doubled each retry up to 30s,
	// with jitter. Default 500ms.
	Backoff time.Duration
	// RedirectHosts are host names (besides the endpoint's) that the
	// upstream may redirect file downloads to over https: the Hub serves
	// large files from its CDN. The bearer token is not sent there.
	// Default none: every other host is refused.
	RedirectHosts []string
	// Client makes the requests. Default: a client of its own that
	// follows redirects only within the endpoint's host.
	Client *http.Client
	// Progress, when set, is called with bytes done (downloaded or found
	// already stored) and the total.
	Progress func(done, total int64)
	// Policy, when set, is asked whether this node may hold the repo
	// before anything is requested from the upstream.
	Policy ingest.Policy
	// Gate, when set, checks the revision once its files are stored and
	// before it is committed (scan through the store, licences, the
	// policy's scan and licenses rule) and records its verdict; a
	// revision breaking the rule is committed quarantined.
	Gate *gate.Gate
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("mirror: endpoint %q: want an http(s) URL", o.Endpoint)
		}
	}
	if o.SpoolDir == "" {
		return errors.New("mirror: no spool directory")
	}
	if _, err := manifest.ParseKind(string(o.Kind)); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	if o.Revision != "" {
		if err := ingest.ValidateRevision(o.Revision); err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
	}
	if o.Workers < 0 || o.Retries < 0 || o.Backoff < 0 {
		return errors.New("mirror: workers, retries and backoff must not be negative")
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Endpoint == "" {
		o.Endpoint = DefaultEndpoint
	}
	o.Endpoint = strings.TrimSuffix(o.Endpoint, "/")
	o.Kind, _ = manifest.ParseKind(string(o.Kind))
	if o.Revision == "" {
		o.Revision = "main"
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.Retries == 0 {
		o.Retries = 5
	}
	if o.Backoff == 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Result describes a mirrored revision.
type Result struct {
	Manifest *manifest.Manifest
	Revision string
	// Bytes is the revision's size; Downloaded the bytes fetched in this
	// run (resumed parts count only once).
	Bytes, Downloaded int64
	// Files is the number of files; Skipped those already stored whole.
	Files, Skipped int
	// Requests counts HTTP requests made, retries included.
	Requests int64
	// Check is the gate's verdict; nil without Options.Gate or when the
	// revision was already stored (checked when it came in).
	Check *gate.Result
}

// upstreamFile is one file as the upstream lists it.
type upstreamFile struct {
	Path string
	Size int64
	Oid  string // git blob id
	LFS  string // sha256 of the content for an LFS file, else ""
}

// Mirror pulls one revision of repo from the upstream into st, file by
// file through the chunker, checking each file against the upstream's
// sha256 (LFS files) or git blob id (others), and commits it under the
// upstream's commit id, named by o.Revision and by the commit. On error
// nothing is committed; downloaded bytes stay in the spool for the next
// run.
func Mirror(ctx context.Context, st *store.Store, repo string, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if err := manifest.ValidateRepo(repo); err != nil {
		return nil, err
	}
	if o.Policy != nil {
		if err := o.Policy.MayImport(repo); err != nil {
			return nil, fmt.Errorf("mirror %s: %w", repo, err)
		}
	}
	if o.Offline {
		return nil, fmt.Errorf("mirror %s: %w; it holds only what is stored", repo, ErrOffline)
	}
	c, err := newClient(o)
	if err != nil {
		return nil, err
	}
	res := &Result{Revision: o.Revision}
	defer func() { res.Requests = c.requests.Load() }()

	info, err := c.revisionInfo(ctx, repo)
	if err != nil {
		return nil, err
	}
	created, err := time.Parse(time.RFC3339Nano, info.LastModified)
	if err != nil {
		created = time.Time{}
	}
	files, err := c.tree(ctx, repo, info.SHA)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("mirror %s@%s: the upstream lists no files", repo, o.Revision)
	}
	for _, f := range files {
		res.Bytes += f.Size
	}
	res.Files = len(files)

	release, err := st.Hold(ctx)
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", repo, err)
	}
	defer release()

	// Already stored: only the refs may need to move.
	if m, err := st.Resolve(ctx, o.Kind, repo, info.SHA); err == nil {
		res.Manifest, res.Skipped = m, len(files)
		if o.Progress != nil {
			o.Progress(res.Bytes, res.Bytes)
		}
		return res, commitRefs(ctx, st, m, o.Revision)
	}

	known := storedFiles(ctx, st, o.Kind, repo)
	spool := filepath.Join(o.SpoolDir, string(o.Kind), repo, info.SHA)
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("mirror %s: spool: %w", repo, err)
	}
	// Progress is called under a lock: callers' bars need not be safe for
	// concurrent use.
	var pmu sync.Mutex
	var done int64
	progress := func(n int64) {
		pmu.Lock()
		defer pmu.Unlock()
		done += n
		if o.Progress != nil {
			o.Progress(done, res.Bytes)
		}
	}
	out := make([]manifest.File, len(files))
	var skipped atomic.Int32
	var downloaded atomic.Int64
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(files[b].Size>>20) - int(files[a].Size>>20) })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Workers)
	for _, i := range order {
		f := files[i]
		g.Go(func() error {
			if mf, ok := reuse(gctx, st, known, spool, f); ok {
				out[i] = mf
				skipped.Add(1)
				progress(f.Size)
				return nil
			}
			mf, n, err := c.fetchFile(gctx, st, repo, info.SHA, spool, f, progress)
			downloaded.Add(n)
			if err != nil {
				return err
			}
			out[i] = mf
			return nil
		})
	}
	err = g.Wait()
	res.Downloaded, res.Skipped = downloaded.Load(), int(skipped.Load())
	if err != nil {
		return res, err
	}

	entries := make([]chunker.DirEntry, len(out))
	for i, f := range out {
		entries[i] = chunker.DirEntry{Path: f.Path, CID: f.CID, Size: f.Size}
	}
	root, _, err := chunker.BuildDir(ctx, st, entries)
	if err != nil {
		return res, fmt.Errorf("mirror %s: build directory: %w", repo, err)
	}
	m := &manifest.Manifest{
		Version: manifest.Version, Type: o.Kind, Repo: repo, Commit: info.SHA,
		Created: created.UTC().Truncate(time.Millisecond), Root: root, Files: out,
	}
	m.Sort()
	if err := m.Validate(); err != nil {
		return res, fmt.Errorf("mirror %s@%s: %w", repo, info.SHA, err)
	}
	if res.Check, err = checkRevision(ctx, o.Gate, st, m, nil); err != nil {
		return res, fmt.Errorf("mirror %s@%s: %w", repo, info.SHA, err)
	}
	if err := commitRefs(ctx, st, m, o.Revision); err != nil {
		return res, err
	}
	res.Manifest = m
	os.RemoveAll(spool)
	return res, nil
}

// checkRevision runs g (when set) on a stored, not yet committed revision
// and records its verdict.
// A signed release that came with it (from a bundle) is applied if the
// revision is quarantined here.
func checkRevision(ctx context.Context, g *gate.Gate, st *store.Store, m *manifest.Manifest, release []byte) (*gate.Result, error) {
	if g == nil {
		return nil, nil
	}
	res, err := g.Check(ctx, m.Type, m.Repo, gate.Paths(m), gate.StoreOpener(ctx, st, m))
	if err != nil {
		return nil, err
	}
	if len(release) > 0 {
		res.Release = release
	}
	return res, g.Record(ctx, res, m.Commit)
}

func commitRefs(ctx context.Context, st *store.Store, m *manifest.Manifest, revision string) error {
	for _, name := range []string{revision, m.Commit} {
		if err := st.Commit(ctx, m, name, nil); err != nil {
			return fmt.Errorf("mirror %s@%s: commit: %w", m.Repo, name, err)
		}
	}
	return nil
}

// fileKey identifies content the way the upstream lists it.
func fileKey(size int64, lfsSHA, oid string) string {
	if lfsSHA != "" {
		return "sha256:" + lfsSHA + ":" + strconv.FormatInt(size, 10)
	}
	return "blob:" + oid + ":" + strconv.FormatInt(size, 10)
}

// storedFiles indexes the files of every stored revision of repo.
func storedFiles(ctx context.Context, st *store.Store, kind manifest.Kind, repo string) map[string]manifest.File {
	out := map[string]manifest.File{}
	refs, err := st.Refs(ctx, kind, repo)
	if err != nil {
		return out
	}
	for _, r := range refs {
		m, err := st.Resolve(ctx, kind, repo, r.Commit)
		if err != nil {
			continue
		}
		for _, f := range m.Files {
			out[fileKey(f.Size, f.SHA256, "")] = f
			if !f.LFS {
				out[fileKey(f.Size, "", f.BlobID)] = f
			}
		}
	}
	return out
}

// journal is what a spool keeps of a file imported but not yet committed.
type journal struct {
	CID    string `json:"cid"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	BlobID string `json:"blob_id"`
}

func spoolName(spool, p string) string {
	h := sha1.Sum([]byte(p))
	return filepath.Join(spool, hex.EncodeToString(h[:]))
}

// reuse finds a file already stored whole: in a stored revision of the
// repo, or imported by an earlier run that did not get to commit.
func reuse(ctx context.Context, st *store.Store, known map[string]manifest.File, spool string, f upstreamFile) (manifest.File, bool) {
	mf := manifest.File{Path: f.Path, Size: f.Size, BlobID: f.Oid, LFS: f.LFS != ""}
	if k, ok := known[fileKey(f.Size, f.LFS, f.Oid)]; ok {
		mf.SHA256, mf.CID = k.SHA256, k.CID
	} else if b, err := os.ReadFile(spoolName(spool, f.Path) + ".done"); err == nil {
		var j journal
		if json.Unmarshal(b, &j) != nil || j.Size != f.Size || !matches(f, j.SHA256, j.BlobID) {
			return manifest.File{}, false
		}
		c, err := cid.Decode(j.CID)
		if err != nil {
			return manifest.File{}, false
		}
		mf.SHA256, mf.CID = j.SHA256, c
	} else {
		return manifest.File{}, false
	}
	if miss, err := missingBlock(ctx, st, mf.CID); err != nil || miss.Defined() {
		return manifest.File{}, false
	}
	return mf, true
}

// matches reports whether content with this sha256 and git blob id is the
// file the upstream lists.
func matches(f upstreamFile, sha, blob string) bool {
	if f.LFS != "" {
		return sha == f.LFS
	}
	return blob == f.Oid
}

// fetchFile downloads f into the spool (resuming what an earlier attempt
// left), imports it through the chunker and checks its digest.
func (c *client) fetchFile(ctx context.Context, st *store.Store, repo, commit, spool string, f upstreamFile, progress func(int64)) (manifest.File, int64, error) {
	part := spoolName(spool, f.Path) + ".part"
	n, err := c.download(ctx, c.resolveURL(repo, commit, f.Path), part, f.Size, progress)
	if err != nil {
		return manifest.File{}, n, fmt.Errorf("mirror %s: %s: %w", repo, f.Path, err)
	}
	fd, err := os.Open(part)
	if err != nil {
		return manifest.File{}, n, fmt.Errorf("mirror %s: %s: %w", repo, f.Path, err)
	}
	defer fd.Close()
	r, err := chunker.ImportFile(ctx, st, fd, f.Size, f.Path, chunker.Options{})
	if err != nil && errors.Is(err, chunker.ErrFormat) {
		// A malformed safetensors or GGUF file is still the upstream's
		// file: store it as plain bytes, digest checked as usual.
		r, err = chunker.ImportFile(ctx, st, fd, f.Size, f.Path, chunker.Options{Strategy: chunker.CDC})
	}
	if err != nil {
		return manifest.File{}, n, fmt.Errorf("mirror %s: %s: %w", repo, f.Path, err)
	}
	sha := hex.EncodeToString(r.SHA256[:])
	blob := r.BlobID
	if blob == "" && f.LFS == "" {
		h := manifest.NewBlobHash(f.Size)
		if _, err := io.Copy(h, io.NewSectionReader(fd, 0, f.Size)); err != nil {
			return manifest.File{}, n, fmt.Errorf("mirror %s: %s: %w", repo, f.Path, err)
		}
		blob = hex.EncodeToString(h.Sum(nil))
	}
	if !matches(f, sha, blob) {
		os.Remove(part)
		if f.LFS != "" {
			return manifest.File{}, n, fmt.Errorf("mirror %s: %s: %w: sha256 %s, upstream says %s", repo, f.Path, ErrDigest, sha, f.LFS)
		}
		return manifest.File{}, n, fmt.Errorf("mirror %s: %s: %w: git blob id %s, upstream says %s", repo, f.Path, ErrDigest, blob, f.Oid)
	}
	j, _ := json.Marshal(journal{CID: r.CID.String(), Size: f.Size, SHA256: sha, BlobID: blob})
	if err := os.WriteFile(spoolName(spool, f.Path)+".done", j, 0o600); err == nil {
		os.Remove(part)
	}
	return manifest.File{Path: f.Path, Size: f.Size, SHA256: sha, BlobID: f.Oid, LFS: f.LFS != "", CID: r.CID}, n, nil
}

// client speaks the Hub's protocol to one endpoint.
type client struct {
	o        Options
	base     *url.URL
	hc       *http.Client
	requests atomic.Int64
}

func newClient(o Options) (*client, error) {
	base, err := url.Parse(o.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("mirror: endpoint: %w", err)
	}
	hc := o.Client
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil // only the configured endpoint is contacted
		tr.DisableCompression = true
		tr.ResponseHeaderTimeout = time.Minute
		hc = &http.Client{Transport: tr}
	}
	cp := *hc
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("more than 10 redirects")
		}
		if (req.URL.Scheme != base.Scheme || req.URL.Host != base.Host) && !(req.URL.Scheme == "https" && slices.Contains(o.RedirectHosts, req.URL.Hostname())) {
			return fmt.Errorf("%w: %s (only %s is contacted)", ErrRedirect, req.URL.Host, base.Host)
		}
		return nil
	}
	return &client{o: o, base: base, hc: &cp}, nil
}

func (c *client) apiPath(repo string) string {
	return c.o.Endpoint + "/api/" + c.o.Kind.Plural() + "/" + repo
}

func (c *client) resolveURL(repo, commit, p string) string {
	prefix := c.o.Endpoint + "/"
	if c.o.Kind == manifest.Dataset {
		prefix += "datasets/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return prefix + repo + "/resolve/" + commit + "/" + strings.Join(segs, "/")
}

// statusError is a response the client did not want.
type statusError struct {
	code    int
	errCode string
	url     string
	msg     string
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("GET %s: %d %s", e.url, e.code, http.StatusText(e.code))
	if e.errCode != "" {
		s += " (" + e.errCode + ")"
	}
	if e.msg != "" {
		s += ": " + e.msg
	}
	return s
}

func (e *statusError) Unwrap() error {
	switch {
	case e.code == http.StatusUnauthorized || e.code == http.StatusForbidden:
		return ErrGated
	case e.code == http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}

func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests || se.code == http.StatusRequestTimeout
	}
	if errors.Is(err, ErrRedirect) || errors.Is(err, ErrDigest) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, errShortBody)
}

var errShortBody = errors.New("body shorter than announced")

// retry runs fn until it succeeds, fails for good, or Retries retries
// are spent, sleeping an exponential backoff with jitter in between.
func (c *client) retry(ctx context.Context, what string, fn func() error) error {
	delay := c.o.Backoff
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) || attempt >= c.o.Retries {
			if err != nil && attempt > 0 {
				return fmt.Errorf("%w (after %d retries)", err, attempt)
			}
			return err
		}
		d := delay/2 + rand.N(delay/2+1)
		c.o.Logger.Debug("mirror: retry", "what", what, "attempt", attempt+1, "in", d, "err", err)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay = min(2*delay, 30*time.Second)
	}
}

func (c *client) get(ctx context.Context, u string, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.o.Token)
	}
	req.Header.Set("User-Agent", "cairn-mirror/1")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusPartialContent {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 300 {
			msg = msg[:300]
		}
		se := &statusError{code: resp.StatusCode, errCode: resp.Header.Get("X-Error-Code"), url: u, msg: msg}
		if se.code == http.StatusUnauthorized || se.code == http.StatusForbidden {
			if c.o.Token == "" {
				se.msg += " — gated or private repo: set upstream.token"
			} else {
				se.msg += " — the upstream token has no access"
			}
		}
		return nil, se
	}
	return resp, nil
}

// maxAPI bounds one API response.
const maxAPI = 64 << 20

func (c *client) getJSON(ctx context.Context, u string, v any) (next string, err error) {
	err = c.retry(ctx, u, func() error {
		resp, err := c.get(ctx, u, map[string]string{"Accept": "application/json"})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPI+1))
		if err != nil {
			return err
		}
		if len(b) > maxAPI {
			return fmt.Errorf("GET %s: answer larger than %d bytes", u, maxAPI)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("GET %s: %w", u, err)
		}
		next = nextLink(resp.Header.Values("Link"))
		return nil
	})
	return next, err
}

type revisionInfo struct {
	SHA          string `json:"sha"`
	LastModified string `json:"lastModified"`
}

func (c *client) revisionInfo(ctx context.Context, repo string) (*revisionInfo, error) {
	var info revisionInfo
	u := c.apiPath(repo) + "/revision/" + url.PathEscape(c.o.Revision)
	if _, err := c.getJSON(ctx, u, &info); err != nil {
		return nil, fmt.Errorf("mirror %s@%s: %w", repo, c.o.Revision, err)
	}
	if err := manifest.ValidateCommit(info.SHA); err != nil {
		return nil, fmt.Errorf("mirror %s@%s: upstream commit: %w", repo, c.o.Revision, err)
	}
	return &info, nil
}

type treeEntry struct {
	Type string `json:"type"`
	Oid  string `json:"oid"`
	Size int64  `json:"size"`
	Path string `json:"path"`
	LFS  *struct {
		Oid  string `json:"oid"`
		Size int64  `json:"size"`
	} `json:"lfs"`
}

// maxPages bounds a tree listing (1000 entries a page on the Hub).
const maxPages = 10000

func (c *client) tree(ctx context.Context, repo, commit string) ([]upstreamFile, error) {
	u := c.apiPath(repo) + "/tree/" + commit + "?recursive=true"
	var out []upstreamFile
	seen := map[string]bool{}
	for page := 0; u != ""; page++ {
		if page >= maxPages {
			return nil, fmt.Errorf("mirror %s: tree listing longer than %d pages", repo, maxPages)
		}
		var ents []treeEntry
		next, err := c.getJSON(ctx, u, &ents)
		if err != nil {
			return nil, fmt.Errorf("mirror %s@%s: tree: %w", repo, commit, err)
		}
		for _, e := range ents {
			if e.Type != "file" {
				continue
			}
			if err := manifest.ValidatePath(e.Path); err != nil {
				return nil, fmt.Errorf("mirror %s: upstream file: %w", repo, err)
			}
			if seen[e.Path] {
				return nil, fmt.Errorf("mirror %s: upstream lists %q twice", repo, e.Path)
			}
			seen[e.Path] = true
			if e.Size < 0 || len(e.Oid) != 40 || !isHex(e.Oid) {
				return nil, fmt.Errorf("mirror %s: upstream file %q: bad size or oid", repo, e.Path)
			}
			f := upstreamFile{Path: e.Path, Size: e.Size, Oid: e.Oid}
			if e.LFS != nil {
				if len(e.LFS.Oid) != 64 || !isHex(e.LFS.Oid) || e.LFS.Size != e.Size {
					return nil, fmt.Errorf("mirror %s: upstream file %q: bad lfs oid or size", repo, e.Path)
				}
				f.LFS = e.LFS.Oid
			}
			out = append(out, f)
		}
		if next != "" {
			nu, err := c.base.Parse(next)
			if err != nil || nu.Host != c.base.Host || nu.Scheme != c.base.Scheme {
				return nil, fmt.Errorf("mirror %s: tree: next page %q is not on %s", repo, next, c.base.Host)
			}
			next = nu.String()
		}
		u = next
	}
	return out, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// nextLink finds the rel="next" target of Link headers.
func nextLink(vals []string) string {
	for _, v := range vals {
		for _, part := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(part, ";")
			if !ok {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Trim(v, `"`) == "next" {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

// download fetches u into path until it holds size bytes, resuming with a
// Range request from what path holds already. It returns the bytes
// fetched.
func (c *client) download(ctx context.Context, u, path string, size int64, progress func(int64)) (int64, error) {
	fd, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer fd.Close()
	var fetched int64
	var mu sync.Mutex
	first := true
	err = c.retry(ctx, u, func() error {
		have, err := fd.Seek(0, io.SeekEnd)
		if err != nil {
			return err
		}
		if have > size {
			if err := fd.Truncate(0); err != nil {
				return err
			}
			have, _ = fd.Seek(0, io.SeekStart)
		}
		if first {
			progress(have) // resumed bytes count as done
			first = false
		}
		if have == size {
			return nil
		}
		hdr := map[string]string{}
		if have > 0 {
			hdr["Range"] = fmt.Sprintf("bytes=%d-", have)
		}
		resp, err := c.get(ctx, u, hdr)
		if err != nil {
			var se *statusError
			if errors.As(err, &se) && se.code == http.StatusRequestedRangeNotSatisfiable {
				fd.Truncate(0)
			}
			return err
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusPartialContent:
			start, ok := rangeStart(resp.Header.Get("Content-Range"))
			if !ok || start != have {
				fd.Truncate(0)
				return &statusError{code: http.StatusBadGateway, url: u, msg: "Content-Range " + resp.Header.Get("Content-Range") + " does not start at " + strconv.FormatInt(have, 10)}
			}
		default: // 200: the whole file from the start
			if have > 0 {
				progress(-have)
			}
			if err := fd.Truncate(0); err != nil {
				return err
			}
			have = 0
			if _, err := fd.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
		w := &progressWriter{w: fd, fn: func(n int64) {
			mu.Lock()
			fetched += n
			mu.Unlock()
			progress(n)
		}}
		n, err := io.Copy(w, io.LimitReader(resp.Body, size-have+1))
		switch {
		case err != nil:
			return err
		case have+n > size:
			fd.Truncate(0)
			return fmt.Errorf("%w: upstream sent more than the %d bytes it lists", ErrDigest, size)
		case have+n < size:
			return fmt.Errorf("%w: %d of %d bytes", errShortBody, have+n, size)
		}
		return nil
	})
	return fetched, err
}

func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	a, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(a, 10, 64)
	return n, err == nil
}

type progressWriter struct {
	w  io.Writer
	fn func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.fn(int64(n))
	return n, err
}
