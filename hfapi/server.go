package hfapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/internal/httpauth"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// Store is what the API reads: revisions and blocks. *store.Store
// satisfies it.
type Store interface {
	Resolve(ctx context.Context, kind manifest.Kind, repo, revision string) (*manifest.Manifest, error)
	Refs(ctx context.Context, kind manifest.Kind, repo string) ([]store.Ref, error)
	Get(ctx context.Context, c cid.Cid) (blocks.Block, error)
}

// Decider answers residency questions; *sovereignty.Engine satisfies it.
type Decider interface {
	Decide(a sovereignty.Action, repo string, m *sovereignty.Member) sovereignty.Decision
}

// Auditor records refusals; *sovereignty.Audit satisfies it.
type Auditor interface {
	Append(e sovereignty.Entry) error
}

// Server is the HTTP handler of the API.
type Server struct {
	st       Store
	o        Options
	log      *slog.Logger
	pageSize int
	stats    counters
	keys     httpauth.Keys // o.Tokens
}

// New builds a Server on st.
func New(st Store, o Options) (*Server, error) {
	if st == nil {
		return nil, errors.New("hfapi: nil store")
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &Server{st: st, o: o, log: o.Logger, pageSize: o.PageSize}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.pageSize == 0 {
		s.pageSize = defaultPageSize
	}
	s.o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	for _, t := range o.Tokens {
		s.keys = append(s.keys, httpauth.Key{Token: t.Token, Jurisdiction: t.Jurisdiction})
	}
	return s, nil
}

type counters struct {
	requests, files, bytes, notFound, refused, failed atomic.Int64
}

// Stats are counters since the Server was built, for metrics.
type Stats struct {
	Requests    int64 // every request
	FilesServed int64 // GET of a file body (200 or 206)
	BytesServed int64 // file body bytes written
	NotFound    int64 // 404 answers
	Refused     int64 // 401 and 403 answers
	Failed      int64 // 5xx answers and bodies cut short
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests: s.stats.requests.Load(), FilesServed: s.stats.files.Load(), BytesServed: s.stats.bytes.Load(),
		NotFound: s.stats.notFound.Load(), Refused: s.stats.refused.Load(), Failed: s.stats.failed.Load(),
	}
}

// recorder remembers the status for the log line and counters.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.stats.requests.Add(1)
	rec := &recorder{ResponseWriter: w}
	var served int64
	defer func() {
		switch {
		case rec.status == http.StatusNotFound:
			s.stats.notFound.Add(1)
		case rec.status == http.StatusUnauthorized || rec.status == http.StatusForbidden:
			s.stats.refused.Add(1)
		case rec.status >= 500:
			s.stats.failed.Add(1)
		}
		s.log.Debug("hfapi", "method", r.Method, "path", r.URL.EscapedPath(), "status", rec.status,
			"bytes", served, "dur", time.Since(start))
	}()
	// CORS is the embedding server's decision (node wraps the API in
	// httpguard, which answers allowed origins' preflights): no origin is
	// let in here. A bare OPTIONS gets an empty answer.
	if r.Method == http.MethodOptions {
		rec.WriteHeader(http.StatusNoContent)
		return
	}
	rt, err := ParsePath(r.URL.EscapedPath())
	if err != nil {
		writeError(rec, r, http.StatusBadRequest, "", err.Error())
		return
	}
	if rt.Op == OpNone {
		writeError(rec, r, http.StatusNotFound, "", "Not Found")
		return
	}
	member, ok := s.authenticate(rec, r)
	if !ok {
		return
	}
	if rt.Rev == "HEAD" {
		rt.Rev = "main"
	}
	if rt.Rev == "" && rt.Repo != "" {
		rt.Rev = "main"
	}
	if rt.Repo != "" && !s.allowed(rec, r, rt, member) {
		return
	}
	switch rt.Op {
	case OpResolve, OpRaw:
		served = s.serveFile(rec, r, rt)
	case OpInfo:
		s.serveInfo(rec, r, rt)
	case OpTree:
		s.serveTree(rec, r, rt)
	case OpPathsInfo:
		s.servePathsInfo(rec, r, rt)
	case OpRefs:
		s.serveRefs(rec, r, rt)
	case OpList:
		s.serveList(rec, r, rt, member)
	case OpWhoami:
		s.serveWhoami(rec, r, member)
	}
}

// tokenMember is the member a request acts as: nil for full read access.
type tokenMember = *sovereignty.Member

// authenticate checks the bearer token when tokens are configured. ok is
// false when it answered the request.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (tokenMember, bool) {
	key, err := s.keys.Check(r)
	switch {
	case errors.Is(err, httpauth.ErrMissing):
		w.Header().Set("WWW-Authenticate", httpauth.Challenge)
		writeError(w, r, http.StatusUnauthorized, "", "Authentication required: this node needs a bearer token")
		return nil, false
	case err != nil:
		w.Header().Set("WWW-Authenticate", httpauth.Challenge+`, error="invalid_token"`)
		// The Hub's words, which huggingface_hub recognises.
		writeError(w, r, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
		return nil, false
	}
	if key.Jurisdiction == "" {
		return nil, true
	}
	return &sovereignty.Member{PeerID: "http-token", Jurisdiction: key.Jurisdiction}, true
}

// allowed applies the residency policy to a token bound to a jurisdiction.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, rt Route, m tokenMember) bool {
	if m == nil {
		return true
	}
	if s.permits(rt.Repo, m) {
		return true
	}
	writeError(w, r, http.StatusForbidden, "GatedRepo",
		fmt.Sprintf("Access to %s is restricted: the residency policy does not let jurisdiction %s receive it", rt.Repo, m.Jurisdiction))
	return false
}

func (s *Server) permits(repo string, m tokenMember) bool {
	if m == nil {
		return true
	}
	if s.o.Decider == nil {
		return false
	}
	d := s.o.Decider.Decide(sovereignty.Receive, repo, m)
	if d.Allow {
		return true
	}
	if s.o.Auditor != nil {
		if err := s.o.Auditor.Append(sovereignty.DenyEntry(sovereignty.Receive, repo, m, d)); err != nil {
			s.log.Error("hfapi: audit", "err", err)
		}
	}
	s.log.Info("hfapi: refused", "repo", repo, "jurisdiction", m.Jurisdiction, "reason", d.Reason)
	return false
}

// writeError answers as the Hub does: X-Error-Code, X-Error-Message and a
// JSON body {"error": msg}.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	h := w.Header()
	for _, k := range []string{"ETag", "X-Linked-Etag", "X-Linked-Size", "Accept-Ranges", "Content-Length", "Last-Modified"} {
		h.Del(k)
	}
	if status != http.StatusRequestedRangeNotSatisfiable {
		h.Del("Content-Range")
	}
	if code != "" {
		h.Set("X-Error-Code", code)
	}
	h.Set("X-Error-Message", headerSafe(msg))
	b, _ := json.Marshal(map[string]string{"error": msg})
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", fmt.Sprint(len(b)+1))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(append(b, '\n'))
	}
}

func headerSafe(s string) string {
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f || c > 0x7e {
			return '?'
		}
		return c
	}, s)
}

// writeJSON writes v uncompressed (clients must not see gzip on API JSON).
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, "", "encode response")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

// resolve loads the revision a route names, answering the request itself
// (404 with the Hub's error code, or 500) when it fails.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request, rt Route) (*manifest.Manifest, bool) {
	if manifest.ValidateRepo(rt.Repo) != nil {
		writeError(w, r, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return nil, false
	}
	m, err := s.st.Resolve(r.Context(), rt.Kind, rt.Repo, rt.Rev)
	switch {
	case err == nil && s.o.Quarantine != nil:
		if why, ok := s.o.Quarantine(r.Context(), m); ok {
			s.stats.refused.Add(1)
			writeError(w, r, http.StatusUnavailableForLegalReasons, "Quarantined", why)
			return nil, false
		}
		return m, true
	case err == nil:
		return m, true
	case errors.Is(err, store.ErrRepoNotFound):
		writeError(w, r, http.StatusNotFound, "RepoNotFound", "Repository not found")
	case errors.Is(err, store.ErrRevisionNotFound):
		writeError(w, r, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rt.Rev)
	default:
		s.log.Error("hfapi: resolve", "kind", rt.Kind, "repo", rt.Repo, "rev", rt.Rev, "err", err)
		writeError(w, r, http.StatusInternalServerError, "", "internal error")
	}
	return nil, false
}

func checkMethod(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, r, http.StatusMethodNotAllowed, "", "method "+r.Method+" not allowed")
	return false
}

// hubTime formats t as the Hub does: 2024-05-01T12:00:00.000Z.
func hubTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// objectID is a stable 24-hex id standing in for the Hub's database id.
func objectID(kind manifest.Kind, repo string) string {
	h := sha256.Sum256([]byte(string(kind) + ":" + repo))
	return hex.EncodeToString(h[:12])
}
