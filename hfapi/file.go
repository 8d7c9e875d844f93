package hfapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/manifest"
)

// serveFile answers HEAD and GET of /resolve/ and /raw/ and returns the body
// bytes written.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, rt Route) int64 {
	if !checkMethod(w, r, http.MethodGet, http.MethodHead) {
		return 0
	}
	m, ok := s.resolve(w, r, rt)
	if !ok {
		return 0
	}
	h := w.Header()
	h.Set("X-Repo-Commit", m.Commit)
	f, ok := m.File(rt.Path)
	if !ok {
		writeError(w, r, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return 0
	}
	etag := f.BlobID
	if f.LFS {
		etag = f.SHA256
	}
	qetag := `"` + etag + `"`
	size := f.Size
	var pointer []byte
	if rt.Op == OpRaw && f.LFS {
		// raw/ shows what git holds: the pointer file.
		pointer = manifest.LFSPointer(f.SHA256, f.Size)
		size, qetag = int64(len(pointer)), `"`+f.BlobID+`"`
	}
	h.Set("ETag", qetag)
	h.Set("X-Linked-Etag", qetag)
	h.Set("X-Linked-Size", strconv.FormatInt(size, 10))
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", contentType(rt.Path))
	h.Set("Last-Modified", m.Created.UTC().Format(http.TimeFormat))
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return 0
	}
	off, n, status := int64(0), size, http.StatusOK
	if rh := r.Header.Get("Range"); rh != "" && ifRange(r.Header.Get("If-Range"), qetag) {
		a, b, err := parseRange(rh, size)
		switch {
		case errors.Is(err, errUnsatisfiable):
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			writeError(w, r, http.StatusRequestedRangeNotSatisfiable, "", err.Error())
			return 0
		case errors.Is(err, errMultiRange), errors.Is(err, errIgnoreRange):
			// Whole file, 200: RFC 9110 lets a server ignore Range.
		case err == nil:
			off, n, status = a, b-a+1, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, size))
		}
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead || n == 0 {
		return 0
	}
	s.stats.files.Add(1)
	if pointer != nil {
		k, _ := w.Write(pointer[off : off+n])
		s.stats.bytes.Add(int64(k))
		return int64(k)
	}
	rd, err := chunker.NewReader(r.Context(), s.st, f.CID)
	if err == nil && rd.Size() != f.Size {
		err = fmt.Errorf("DAG %s holds %d bytes, manifest says %d", f.CID, rd.Size(), f.Size)
	}
	var k int64
	if err == nil {
		// Blocks are read and checked a few batches ahead of the socket
		// writes, on other goroutines; no batch is written before all of
		// it has been checked.
		k, err = rd.WriteRange(r.Context(), countWriter{w, s}, off, n)
	}
	if err != nil {
		// The header is out; cutting the connection is how a client learns
		// that the body is incomplete.
		s.stats.failed.Add(1)
		if r.Context().Err() == nil {
			s.log.Error("hfapi: serving file", "repo", rt.Repo, "path", rt.Path, "commit", m.Commit, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return k
}

// countWriter counts the body bytes written in the server's stats.
type countWriter struct {
	w io.Writer
	s *Server
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.s.stats.bytes.Add(int64(n))
	return n, err
}

var (
	errUnsatisfiable = errors.New("range not satisfiable")
	errMultiRange    = errors.New("several ranges")
	errIgnoreRange   = errors.New("range in another unit")
)

// parseRange parses a Range header for a file of size bytes and returns the
// first and last byte of the one range it names.
func parseRange(h string, size int64) (first, last int64, err error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		if strings.Contains(h, "=") && !strings.HasPrefix(strings.TrimSpace(h), "bytes") {
			return 0, 0, errIgnoreRange
		}
		return 0, 0, fmt.Errorf("%w: malformed %q", errUnsatisfiable, h)
	}
	if strings.Contains(spec, ",") {
		return 0, 0, errMultiRange
	}
	spec = strings.TrimSpace(spec)
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%w: malformed %q", errUnsatisfiable, h)
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" {
		// Suffix: the last b bytes.
		k, err := strconv.ParseInt(b, 10, 64)
		if err != nil || k < 0 || !digits(b) {
			return 0, 0, fmt.Errorf("%w: malformed %q", errUnsatisfiable, h)
		}
		if k == 0 || size == 0 {
			return 0, 0, fmt.Errorf("%w: empty suffix of %d bytes", errUnsatisfiable, size)
		}
		return max(0, size-k), size - 1, nil
	}
	first, err = strconv.ParseInt(a, 10, 64)
	if err != nil || !digits(a) {
		return 0, 0, fmt.Errorf("%w: malformed %q", errUnsatisfiable, h)
	}
	last = size - 1
	if b != "" {
		last, err = strconv.ParseInt(b, 10, 64)
		if err != nil || !digits(b) || last < first {
			return 0, 0, fmt.Errorf("%w: malformed %q", errUnsatisfiable, h)
		}
		last = min(last, size-1)
	}
	if first >= size {
		return 0, 0, fmt.Errorf("%w: starts at %d, file has %d bytes", errUnsatisfiable, first, size)
	}
	return first, last, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// etagMatch reports whether an If-None-Match header names etag.
func etagMatch(h, etag string) bool {
	if h == "" {
		return false
	}
	for _, t := range strings.Split(h, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}

// ifRange reports whether a Range applies given If-Range: only an exact
// (strong) ETag keeps it; a date or another tag means the whole file.
func ifRange(h, qetag string) bool {
	return h == "" || h == qetag
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".json":
		return "application/json"
	case ".txt", ".md":
		return "text/plain; charset=utf-8"
	case ".safetensors", ".gguf", ".bin", ".parquet", ".pt", ".onnx", "":
		return "application/octet-stream"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}
