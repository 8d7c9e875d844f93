package hfapi

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

type siblingLFS struct {
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	PointerSize int    `json:"pointerSize"`
}

type sibling struct {
	RFilename string      `json:"rfilename"`
	Size      int64       `json:"size"`
	BlobID    string      `json:"blobId"`
	LFS       *siblingLFS `json:"lfs,omitempty"`
}

// repoInfo is the Hub's model and dataset info document, with the fields
// clients read. Counters are zero: a node does not track popularity.
type repoInfo struct {
	ID           string    `json:"id"`
	MongoID      string    `json:"_id"`
	ModelID      string    `json:"modelId,omitempty"`
	Author       string    `json:"author"`
	SHA          string    `json:"sha"`
	LastModified string    `json:"lastModified"`
	CreatedAt    string    `json:"createdAt"`
	Private      bool      `json:"private"`
	Gated        bool      `json:"gated"`
	Disabled     bool      `json:"disabled"`
	Downloads    int       `json:"downloads"`
	Likes        int       `json:"likes"`
	Tags         []string  `json:"tags"`
	LibraryName  string    `json:"library_name,omitempty"`
	Siblings     []sibling `json:"siblings,omitempty"`
	UsedStorage  int64     `json:"usedStorage"`
}

func pointerSize(f manifest.File) int { return len(manifest.LFSPointer(f.SHA256, f.Size)) }

func infoOf(m *manifest.Manifest, withFiles bool) repoInfo {
	org, _, _ := strings.Cut(m.Repo, "/")
	ri := repoInfo{
		ID: m.Repo, MongoID: objectID(m.Type, m.Repo), Author: org, SHA: m.Commit,
		LastModified: hubTime(m.Created), CreatedAt: hubTime(m.Created), Tags: []string{},
		UsedStorage: m.TotalSize(),
	}
	if m.Type == manifest.Model {
		ri.ModelID = m.Repo
		ri.LibraryName, ri.Tags = modelTags(m)
	}
	if withFiles {
		ri.Siblings = make([]sibling, 0, len(m.Files))
		for _, f := range m.Files {
			sb := sibling{RFilename: f.Path, Size: f.Size, BlobID: f.BlobID}
			if f.LFS {
				sb.LFS = &siblingLFS{Size: f.Size, SHA256: f.SHA256, PointerSize: pointerSize(f)}
			}
			ri.Siblings = append(ri.Siblings, sb)
		}
	}
	return ri
}

// modelTags derives the library and format tags from file names alone.
func modelTags(m *manifest.Manifest) (string, []string) {
	var config, st, gguf bool
	for _, f := range m.Files {
		switch {
		case f.Path == "config.json":
			config = true
		case path.Ext(f.Path) == ".safetensors":
			st = true
		case path.Ext(f.Path) == ".gguf":
			gguf = true
		}
	}
	lib, tags := "", []string{}
	switch {
	case config:
		lib = "transformers"
	case gguf:
		lib = "gguf"
	}
	if lib != "" {
		tags = append(tags, lib)
	}
	if st {
		tags = append(tags, "safetensors")
	}
	if gguf && lib != "gguf" {
		tags = append(tags, "gguf")
	}
	return lib, tags
}

func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request, rt Route) {
	if !checkMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	m, ok := s.resolve(w, r, rt)
	if !ok {
		return
	}
	// expand[] and blobs= are accepted; every field is always there.
	writeJSON(w, r, infoOf(m, true))
}

type lfsEntry struct {
	Oid         string `json:"oid"`
	Size        int64  `json:"size"`
	PointerSize int    `json:"pointerSize"`
}

type lastCommit struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Date  string `json:"date"`
}

type entry struct {
	Type       string      `json:"type"`
	Oid        string      `json:"oid"`
	Size       int64       `json:"size"`
	Path       string      `json:"path"`
	LFS        *lfsEntry   `json:"lfs,omitempty"`
	LastCommit *lastCommit `json:"lastCommit,omitempty"`
	// Security is the gate's verdict, with expand (annotate).
	Security *securityFileStatus `json:"securityFileStatus,omitempty"`
}

// dir is a directory of a revision, built from the file list.
type dir struct {
	path  string
	files []manifest.File
	dirs  map[string]*dir
	oid   string
}

func buildTree(m *manifest.Manifest) *dir {
	root := &dir{dirs: map[string]*dir{}}
	for _, f := range m.Files {
		d := root
		parts := strings.Split(f.Path, "/")
		for i, p := range parts[:len(parts)-1] {
			sub, ok := d.dirs[p]
			if !ok {
				sub = &dir{path: strings.Join(parts[:i+1], "/"), dirs: map[string]*dir{}}
				d.dirs[p] = sub
			}
			d = sub
		}
		d.files = append(d.files, f)
	}
	root.hash()
	return root
}

type child struct {
	name string
	file *manifest.File
	dir  *dir
}

// children in git tree order: by name, a directory sorting as name + "/".
func (d *dir) children() []child {
	out := make([]child, 0, len(d.files)+len(d.dirs))
	for i := range d.files {
		out = append(out, child{name: path.Base(d.files[i].Path), file: &d.files[i]})
	}
	for name, sub := range d.dirs {
		out = append(out, child{name: name, dir: sub})
	}
	key := func(c child) string {
		if c.dir != nil {
			return c.name + "/"
		}
		return c.name
	}
	slices.SortFunc(out, func(a, b child) int { return strings.Compare(key(a), key(b)) })
	return out
}

// hash computes the git tree id of d and every directory below it.
func (d *dir) hash() string {
	var body []byte
	for _, c := range d.children() {
		var id string
		mode := "100644"
		if c.dir != nil {
			id, mode = c.dir.hash(), "40000"
		} else {
			id = c.file.BlobID
		}
		raw, err := hex.DecodeString(id)
		if err != nil || len(raw) != sha1.Size {
			raw = make([]byte, sha1.Size)
		}
		body = append(body, mode+" "+c.name+"\x00"...)
		body = append(body, raw...)
	}
	h := sha1.New()
	fmt.Fprintf(h, "tree %d\x00", len(body))
	h.Write(body)
	d.oid = hex.EncodeToString(h.Sum(nil))
	return d.oid
}

func (d *dir) find(p string) *dir {
	if p == "" {
		return d
	}
	for _, part := range strings.Split(p, "/") {
		sub, ok := d.dirs[part]
		if !ok {
			return nil
		}
		d = sub
	}
	return d
}

func fileEntry(f *manifest.File, lc *lastCommit) entry {
	e := entry{Type: "file", Oid: f.BlobID, Size: f.Size, Path: f.Path, LastCommit: lc}
	if f.LFS {
		e.LFS = &lfsEntry{Oid: f.SHA256, Size: f.Size, PointerSize: pointerSize(*f)}
	}
	return e
}

func dirEntry(d *dir, lc *lastCommit) entry {
	return entry{Type: "directory", Oid: d.oid, Size: 0, Path: d.path, LastCommit: lc}
}

func (d *dir) list(recursive bool, lc *lastCommit, out []entry) []entry {
	for _, c := range d.children() {
		if c.file != nil {
			out = append(out, fileEntry(c.file, lc))
			continue
		}
		out = append(out, dirEntry(c.dir, lc))
		if recursive {
			out = c.dir.list(true, lc, out)
		}
	}
	return out
}

func truthy(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

func commitInfo(m *manifest.Manifest) *lastCommit {
	return &lastCommit{ID: m.Commit, Title: "Cairn revision " + m.Commit[:7], Date: hubTime(m.Created)}
}

func (s *Server) serveTree(w http.ResponseWriter, r *http.Request, rt Route) {
	if !checkMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	m, ok := s.resolve(w, r, rt)
	if !ok {
		return
	}
	w.Header().Set("X-Repo-Commit", m.Commit)
	q := r.URL.Query()
	var lc *lastCommit
	if truthy(q.Get("expand")) {
		lc = commitInfo(m)
	}
	d := buildTree(m).find(rt.Path)
	if d == nil {
		msg := fmt.Sprintf("Entry not found: %s is not a directory of %s@%s", rt.Path, rt.Repo, rt.Rev)
		writeError(w, r, http.StatusNotFound, "EntryNotFound", msg)
		return
	}
	all := d.list(truthy(q.Get("recursive")), lc, nil)
	if lc != nil {
		s.annotate(r.Context(), m, all)
	}
	start, end, ok := s.page(w, r, len(all))
	if !ok {
		return
	}
	writeJSON(w, r, all[start:end])
}

// page picks the slice of a listing of n entries a request asks for
// (cursor=, limit=) and sets the Link header to the next page.
func (s *Server) page(w http.ResponseWriter, r *http.Request, n int) (int, int, bool) {
	q := r.URL.Query()
	size := s.pageSize
	if l := q.Get("limit"); l != "" {
		k, err := strconv.Atoi(l)
		if err != nil || k < 1 {
			writeError(w, r, http.StatusBadRequest, "", "limit: want a positive integer")
			return 0, 0, false
		}
		size = min(k, maxPageSize)
	}
	start := 0
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		k, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || k < 0 {
			writeError(w, r, http.StatusBadRequest, "", "cursor: invalid")
			return 0, 0, false
		}
		start = min(k, n)
	}
	end := min(n, start+size)
	if end < n {
		q.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))))
		w.Header().Set("Link", "<"+s.base(r)+r.URL.EscapedPath()+"?"+q.Encode()+`>; rel="next"`)
	}
	return start, end, true
}

// base is the API's URL as the client sees it: next-page links must be
// absolute, since both clients fetch them as they are.
func (s *Server) base(r *http.Request) string {
	if s.o.BaseURL != "" {
		return s.o.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

const maxPathsInfo = 10000

func (s *Server) servePathsInfo(w http.ResponseWriter, r *http.Request, rt Route) {
	if !checkMethod(w, r, http.MethodPost) {
		return
	}
	var paths []string
	var expand bool
	r.Body = http.MaxBytesReader(w, r.Body, 8<<20)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var body struct {
			Paths  []string        `json:"paths"`
			Expand json.RawMessage `json:"expand"`
		}
		b, err := io.ReadAll(r.Body)
		if err == nil {
			err = json.Unmarshal(b, &body)
		}
		if err != nil {
			writeError(w, r, http.StatusBadRequest, "", "paths-info: JSON body: "+err.Error())
			return
		}
		paths = body.Paths
		var eb bool
		var es string
		if json.Unmarshal(body.Expand, &eb) == nil {
			expand = eb
		} else if json.Unmarshal(body.Expand, &es) == nil {
			expand = truthy(es)
		}
	} else {
		if err := r.ParseForm(); err != nil {
			writeError(w, r, http.StatusBadRequest, "", "paths-info: form body: "+err.Error())
			return
		}
		paths = r.PostForm["paths"]
		expand = truthy(r.PostForm.Get("expand"))
	}
	if len(paths) > maxPathsInfo {
		writeError(w, r, http.StatusBadRequest, "", fmt.Sprintf("paths-info: more than %d paths", maxPathsInfo))
		return
	}
	for i, p := range paths {
		p = strings.TrimSuffix(p, "/")
		if p != "" {
			if err := manifest.ValidatePath(p); err != nil {
				writeError(w, r, http.StatusBadRequest, "", fmt.Sprintf("paths-info: paths[%d]: %v", i, err))
				return
			}
		}
		paths[i] = p
	}
	m, ok := s.resolve(w, r, rt)
	if !ok {
		return
	}
	w.Header().Set("X-Repo-Commit", m.Commit)
	var lc *lastCommit
	if expand {
		lc = commitInfo(m)
	}
	var root *dir
	out := []entry{}
	seen := map[string]bool{}
	for _, p := range paths {
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		if f, ok := m.File(p); ok {
			out = append(out, fileEntry(&f, lc))
			continue
		}
		if root == nil {
			root = buildTree(m)
		}
		if d := root.find(p); d != nil {
			out = append(out, dirEntry(d, lc))
		}
		// Paths that are not in the revision are left out, as on the Hub.
	}
	if expand {
		s.annotate(r.Context(), m, out)
	}
	writeJSON(w, r, out)
}

type refJSON struct {
	Name         string `json:"name"`
	Ref          string `json:"ref"`
	TargetCommit string `json:"targetCommit"`
}

func (s *Server) serveRefs(w http.ResponseWriter, r *http.Request, rt Route) {
	if !checkMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	if manifest.ValidateRepo(rt.Repo) != nil {
		writeError(w, r, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return
	}
	refs, err := s.st.Refs(r.Context(), rt.Kind, rt.Repo)
	if err != nil && !errors.Is(err, store.ErrRepoNotFound) {
		s.log.Error("hfapi: refs", "repo", rt.Repo, "err", err)
		writeError(w, r, http.StatusInternalServerError, "", "internal error")
		return
	}
	if len(refs) == 0 {
		writeError(w, r, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return
	}
	out := map[string][]refJSON{"branches": {}, "converts": {}, "tags": {}, "pullRequests": {}}
	for _, ref := range refs {
		switch {
		case strings.HasPrefix(ref.Revision, "refs/pr/"):
			out["pullRequests"] = append(out["pullRequests"], refJSON{ref.Revision, ref.Revision, ref.Commit})
		case strings.HasPrefix(ref.Revision, "refs/convert/"):
			name := strings.TrimPrefix(ref.Revision, "refs/convert/")
			out["converts"] = append(out["converts"], refJSON{name, ref.Revision, ref.Commit})
		case manifest.ValidateCommit(ref.Revision) == nil:
			// A commit kept as a name is no branch.
		default:
			out["branches"] = append(out["branches"], refJSON{ref.Revision, "refs/heads/" + ref.Revision, ref.Commit})
		}
	}
	writeJSON(w, r, out)
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, rt Route, member tokenMember) {
	if !checkMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	refs, err := s.st.Refs(r.Context(), rt.Kind, "")
	if err != nil && !errors.Is(err, store.ErrRepoNotFound) {
		s.log.Error("hfapi: list", "err", err)
		writeError(w, r, http.StatusInternalServerError, "", "internal error")
		return
	}
	q := r.URL.Query()
	search, author := strings.ToLower(q.Get("search")), q.Get("author")
	// One ref per repo: main when there is one, else the last moved.
	best := map[string]store.Ref{}
	for _, ref := range refs {
		org, _, _ := strings.Cut(ref.Repo, "/")
		if author != "" && !strings.EqualFold(org, author) || search != "" && !strings.Contains(strings.ToLower(ref.Repo), search) {
			continue
		}
		cur, ok := best[ref.Repo]
		if !ok || ref.Revision == "main" || cur.Revision != "main" && ref.Updated.After(cur.Updated) {
			best[ref.Repo] = ref
		}
	}
	repos := make([]string, 0, len(best))
	for repo := range best {
		if s.permits(repo, member) {
			repos = append(repos, repo)
		}
	}
	slices.Sort(repos)
	start, end, ok := s.page(w, r, len(repos))
	if !ok {
		return
	}
	full := truthy(q.Get("full"))
	out := make([]repoInfo, 0, end-start)
	for _, repo := range repos[start:end] {
		ref := best[repo]
		m, err := s.st.Resolve(r.Context(), rt.Kind, repo, ref.Commit)
		if err != nil {
			continue // moved or deleted meanwhile
		}
		out = append(out, infoOf(m, full))
	}
	writeJSON(w, r, out)
}

func (s *Server) serveWhoami(w http.ResponseWriter, r *http.Request, member tokenMember) {
	if !checkMethod(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	name := "cairn"
	if member != nil {
		name = "cairn-" + strings.ToLower(member.Jurisdiction)
	}
	writeJSON(w, r, map[string]any{
		"type": "user", "id": objectID("user", name), "name": name, "fullname": "Cairn node reader",
		"isPro": false, "canPay": false, "emailVerified": false, "orgs": []any{},
		"auth": map[string]any{"type": "access_token", "accessToken": map[string]any{"displayName": name, "role": "read"}},
	})
}
