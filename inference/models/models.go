package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/store"
)

// progressEvery is how often a long pull or write logs its progress.
const progressEvery = 2 * time.Second

// Store is what Finder reads: model revisions and their blocks.
// *store.Store satisfies it.
type Store interface {
	Refs(ctx context.Context, kind manifest.Kind, repo string) ([]store.Ref, error)
	Manifest(ctx context.Context, kind manifest.Kind, repo, commit string) (*manifest.Manifest, error)
	Resolve(ctx context.Context, kind manifest.Kind, repo, revision string) (*manifest.Manifest, error)
	chunker.Getter
}

// Puller fetches a model revision from peers: the node's daemon. An error
// about a revision no connected peer holds wraps openai.ErrModelNotFound.
type Puller interface {
	PullModel(ctx context.Context, repo, rev string, progress func(fetch.Progress)) (Pulled, error)
}

// Pulled is what a pull did.
type Pulled struct {
	Commit   string
	Local    bool // the store held it already
	Bytes    int64
	Duration time.Duration
}

// Finder finds the GGUF files of the store for the OpenAI server
// (openai.Models): it lists them, and locates one by id, pulling its
// revision from peers when it has a Puller and the store lacks it, then
// writing the file out of its blocks into its folder so that the engine
// can map it.
type Finder struct {
	st   Store
	dir  string
	pull Puller // nil: no pulls
	log  *slog.Logger

	mu      sync.Mutex
	flights map[string]*flight
}

// New returns the finder of st's models, materialised in dir (the home's
// models folder); pull, when not nil, fetches missing revisions.
func New(st Store, dir string, pull Puller, log *slog.Logger) *Finder {
	if log == nil {
		log = slog.Default()
	}
	return &Finder{st: st, dir: dir, pull: pull, log: log, flights: map[string]*flight{}}
}

// List returns every GGUF file of every model ref: "org/name" when the
// revision holds one GGUF file, else "org/name/file.gguf" for each; refs
// other than main add "@rev" to the name.
func (ms *Finder) List(ctx context.Context) ([]openai.ModelEntry, error) {
	refs, err := ms.st.Refs(ctx, manifest.Model, "")
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	var out []openai.ModelEntry
	for _, r := range refs {
		m, err := ms.st.Manifest(ctx, manifest.Model, r.Repo, r.Commit)
		if err != nil {
			return nil, fmt.Errorf("list models: %s@%s: %w", r.Repo, r.Revision, err)
		}
		if ms.quarantined(ctx, m) != nil {
			continue
		}
		files := GGUFFiles(m)
		base := r.Repo
		if r.Revision != "main" {
			base += "@" + r.Revision
		}
		org, _, _ := strings.Cut(r.Repo, "/")
		for _, f := range files {
			id := base
			if len(files) > 1 {
				id += "/" + f.Path
			}
			out = append(out, openai.ModelEntry{ID: id, Created: m.Created, OwnedBy: org})
		}
	}
	return out, nil
}

// Locate returns the path of the GGUF file id names, materialised in the
// home's models folder.
func (ms *Finder) Locate(ctx context.Context, id string) (string, error) {
	mid, err := ParseID(id)
	if err != nil {
		return "", fmt.Errorf("%w: %v", openai.ErrModelNotFound, err)
	}
	m, err := ms.st.Resolve(ctx, manifest.Model, mid.Repo, mid.Rev)
	if errors.Is(err, store.ErrRepoNotFound) || errors.Is(err, store.ErrRevisionNotFound) {
		if ms.pull == nil {
			return "", fmt.Errorf("%w: %s@%s is not in the store (and this node has no peers to pull from): %v", openai.ErrModelNotFound, mid.Repo, mid.Rev, err)
		}
		key := "pull " + mid.Repo + "@" + mid.Rev
		_, err = ms.share(ctx, key, func(ctx context.Context) (string, error) {
			return "", ms.fetch(ctx, mid)
		})
		if err != nil {
			return "", err
		}
		m, err = ms.st.Resolve(ctx, manifest.Model, mid.Repo, mid.Rev)
	}
	if err != nil {
		return "", fmt.Errorf("model %s: %w", id, err)
	}
	if err := ms.refuseQuarantined(ctx, id, m); err != nil {
		return "", err
	}
	f, err := Pick(m, mid)
	if err != nil {
		return "", err
	}
	if len(f.SHA256) != 64 {
		return "", fmt.Errorf("model %s: %s has no sha256 in the manifest", id, f.Path)
	}
	dest := filepath.Join(ms.dir, f.SHA256+".gguf")
	if verified(dest, f.Size) {
		return dest, nil
	}
	return ms.share(ctx, "write "+f.SHA256, func(ctx context.Context) (string, error) {
		return ms.materialise(ctx, id, f, dest)
	})
}

// pull fetches a revision from peers, logging progress every few seconds.
func (ms *Finder) fetch(ctx context.Context, mid ID) error {
	ms.log.Info("model pull", "repo", mid.Repo, "rev", mid.Rev)
	var last time.Time
	res, err := ms.pull.PullModel(ctx, mid.Repo, mid.Rev, func(p fetch.Progress) {
		if time.Since(last) < progressEvery {
			return
		}
		last = time.Now()
		ms.log.Info("model pull progress", "repo", mid.Repo, "rev", mid.Rev, "bytes", p.Bytes, "total", p.Total,
			"peers", len(p.Peers), "mb_per_s", p.Rate/1e6)
	})
	if err != nil {
		ms.log.Warn("model pull failed", "repo", mid.Repo, "rev", mid.Rev, "err", err)
		return err
	}
	ms.log.Info("model pulled", "repo", mid.Repo, "rev", mid.Rev, "commit", res.Commit, "local", res.Local,
		"bytes", res.Bytes, "seconds", res.Duration.Seconds())
	return nil
}

// materialise writes f out of the store to dest: to a temporary file, whose
// sha256 must match the manifest's before it is renamed into place.
func (ms *Finder) materialise(ctx context.Context, id string, f manifest.File, dest string) (string, error) {
	if verified(dest, f.Size) {
		return dest, nil // written by a flight that just ended
	}
	if st, err := os.Stat(dest); err == nil && st.Size() == f.Size {
		// Changed since it was hashed, or never stamped: hash it again.
		ok, err := rehash(dest, f.SHA256)
		if ok {
			return dest, nil
		}
		ms.log.Warn("materialised model does not match its manifest sha256: writing it anew", "model", id, "dest", dest, "err", err)
		os.Remove(dest + stampSuffix)
	}
	start := time.Now()
	ms.log.Info("model materialise", "model", id, "file", f.Path, "bytes", f.Size, "dest", dest)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", fmt.Errorf("models folder: %w", err)
	}
	r, err := chunker.NewReader(ctx, ms.st, f.CID)
	if err != nil {
		return "", fmt.Errorf("model %s: open %s: %w", id, f.Path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), filepath.Base(dest)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("model %s: %w", id, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), &progressReader{r: r, ctx: ctx, total: f.Size, log: ms.log, id: id})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("model %s: write %s: %w", id, tmp.Name(), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != f.Size || got != f.SHA256 {
		return "", fmt.Errorf("model %s: %s: %w: %d bytes with sha256 %s, manifest says %d bytes with %s", id, f.Path, ingest.ErrMismatch, n, got, f.Size, f.SHA256)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return "", fmt.Errorf("model %s: %w", id, err)
	}
	if err := writeStamp(dest); err != nil {
		ms.log.Warn("stamp materialised model: it is hashed again at the next load", "dest", dest, "err", err)
	}
	d := time.Since(start)
	ms.log.Info("model materialised", "model", id, "dest", dest, "bytes", n, "seconds", d.Seconds(), "mb_per_s", float64(n)/1e6/max(d.Seconds(), 1e-9))
	return dest, nil
}

// progressReader logs materialisation progress every few seconds and stops
// when ctx ends.
type progressReader struct {
	r     io.Reader
	ctx   context.Context // the flight's, for one copy
	total int64
	done  int64
	last  time.Time
	log   *slog.Logger
	id    string
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.last.IsZero() {
		p.last = time.Now()
	} else if time.Since(p.last) > progressEvery {
		p.last = time.Now()
		p.log.Info("model materialise progress", "model", p.id, "bytes", p.done, "total", p.total)
	}
	return n, err
}

// flight is one shared piece of work: concurrent callers with the same key
// wait for the same result. It is cancelled when every caller has gone.
type flight struct {
	done    chan struct{}
	val     string
	err     error
	waiters int
	cancel  context.CancelFunc
}

// share runs fn once for concurrent callers of key.
func (ms *Finder) share(ctx context.Context, key string, fn func(context.Context) (string, error)) (string, error) {
	ms.mu.Lock()
	f := ms.flights[key]
	if f == nil || f.waiters == 0 { // none, or abandoned and being cancelled
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		ms.flights[key] = f
		go func() {
			val, err := fn(fctx)
			cancel()
			ms.mu.Lock()
			f.val, f.err = val, err
			if ms.flights[key] == f {
				delete(ms.flights, key)
			}
			ms.mu.Unlock()
			close(f.done)
		}()
	}
	f.waiters++
	ms.mu.Unlock()
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		ms.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
		}
		ms.mu.Unlock()
		return "", ctx.Err()
	}
}

// Prune removes materialised files of the models folder that no model ref
// of the store names any more (after `cairn rm`), and temporary files of
// writes that died. The engine keeps a removed file that it has mapped
// until it unloads the model. It returns the removed paths.
func (ms *Finder) Prune(ctx context.Context) ([]string, error) {
	refs, err := ms.st.Refs(ctx, manifest.Model, "")
	if err != nil {
		return nil, fmt.Errorf("prune models: %w", err)
	}
	keep := map[string]bool{}
	for _, r := range refs {
		m, err := ms.st.Manifest(ctx, manifest.Model, r.Repo, r.Commit)
		if err != nil {
			return nil, fmt.Errorf("prune models: %s@%s: %w", r.Repo, r.Revision, err)
		}
		for _, f := range GGUFFiles(m) {
			keep[f.SHA256+".gguf"] = true
		}
	}
	dir := ms.dir
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("prune models: %w", err)
	}
	ms.mu.Lock()
	writing := len(ms.flights) > 0
	ms.mu.Unlock()
	var removed []string
	for _, e := range entries {
		name := e.Name()
		if keep[name] || (strings.Contains(name, ".tmp") && writing) {
			continue
		}
		if keep[strings.TrimSuffix(name, stampSuffix)] && !strings.Contains(name, ".tmp") {
			continue
		}
		if !strings.HasSuffix(name, ".gguf") && !strings.Contains(name, ".gguf.tmp") && !strings.HasSuffix(name, ".gguf"+stampSuffix) {
			continue // not ours
		}
		p := filepath.Join(dir, name)
		if err := os.Remove(p); err != nil {
			return removed, fmt.Errorf("prune models: %w", err)
		}
		if strings.HasSuffix(name, stampSuffix) {
			continue // goes with its file, reported as such
		}
		removed = append(removed, p)
	}
	if len(removed) > 0 {
		ms.log.Info("models pruned", "files", len(removed))
	}
	return removed, nil
}

// quarantineRecords is a store that keeps the compliance gate's
// quarantines (*store.Store); a store without them quarantines nothing.
type quarantineRecords interface {
	QuarantineOf(ctx context.Context, kind manifest.Kind, repo, commit string) (store.Quarantine, bool, error)
}

// quarantined returns the quarantine in force on m's revision, or nil.
func (ms *Finder) quarantined(ctx context.Context, m *manifest.Manifest) *store.Quarantine {
	qs, ok := ms.st.(quarantineRecords)
	if !ok {
		return nil
	}
	q, ok, err := qs.QuarantineOf(ctx, m.Type, m.Repo, m.Commit)
	if err != nil || !ok || !q.InForce() {
		return nil
	}
	return &q
}

// refuseQuarantined answers a model whose revision is quarantined: it is
// never loaded (its files may execute code or break the licence policy).
func (ms *Finder) refuseQuarantined(ctx context.Context, id string, m *manifest.Manifest) error {
	q := ms.quarantined(ctx, m)
	if q == nil {
		return nil
	}
	return &openai.Error{Status: http.StatusUnavailableForLegalReasons, Type: "invalid_request_error", Param: "model", Code: "model_quarantined",
		Message: fmt.Sprintf("the model %q is quarantined by this node's compliance gate and is not loaded (%s@%s: %s); an operator lifts it with `cairn release`",
			id, m.Repo, m.Commit, strings.Join(q.Reasons, "; "))}
}
