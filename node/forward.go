package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/inference"
	forward "github.com/cairnhub/cairn/p2p/infer"
	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/sovereignty"
)

// ProtocolInfer carries OpenAI requests a node cannot serve to a member
// that can, and the adverts of what members serve (package forward).
const ProtocolInfer protocol.ID = "/cairn/infer/1.0.0"

// LocalInference is the node's own OpenAI server as forwarding uses it
// (*openai.Server).
type LocalInference interface {
	http.Handler
	Loaded() []openai.LoadedModel
}

// Defaults of ForwardConfig.
const (
	DefaultLoadCost     = 250 * time.Millisecond
	DefaultColdCost     = 500 * time.Millisecond
	DefaultAdvertTTL    = 2 * time.Second
	DefaultQueryTimeout = 2 * time.Second
)

// ForwardConfig tunes a Forwarder. The zero value is the default.
type ForwardConfig struct {
	// MemoryLimit is the memory a model may take here, its file plus its
	// KV cache; a larger one is forwarded. Default 0: MemAvailable of
	// /proc/meminfo at the time of the request (no limit where unknown).
	MemoryLimit int64
	// LoadCost is what one generation running or waiting on a peer counts
	// for, as added round-trip time, when choosing a peer. Default 250ms.
	LoadCost time.Duration
	// ColdCost is what a peer that holds the model but has not loaded it
	// counts for, as added round-trip time. Default 500ms.
	ColdCost time.Duration
	// AdvertTTL is how long a peer's advert is reused. Default 2s.
	AdvertTTL time.Duration
	// QueryTimeout bounds asking a peer for its advert. Default 2s.
	QueryTimeout time.Duration
	// APIKeys are the bearer tokens clients must send (the node's
	// http.tokens); the serving side sends the first to its own server.
	// A key that the node's http.tokens bind to a jurisdiction
	// (HTTPToken.Jurisdiction) keeps that binding here: it may use only
	// the models whose repo the residency policy lets that jurisdiction
	// receive, as on the Hugging Face API. Default none: open.
	APIKeys []string
	// NoPrefetch stops the node from pulling, in the background, a model
	// it forwarded because it did not hold it. Default false: it pulls,
	// and serves the model itself once it has it.
	NoPrefetch bool
	// Logger defaults to the daemon's.
	Logger *slog.Logger
}

// Validate reports values out of range.
func (c ForwardConfig) Validate() error {
	if c.MemoryLimit < 0 || c.LoadCost < 0 || c.ColdCost < 0 || c.AdvertTTL < 0 || c.QueryTimeout < 0 {
		return errors.New("forward config: negative value")
	}
	for i, k := range c.APIKeys {
		if k == "" {
			return fmt.Errorf("forward config: api key %d is empty", i)
		}
	}
	return nil
}

// Forwarder decides, for each OpenAI generation request reaching the
// node's HTTP API, whether the node serves it or hands it to the nearest
// member allowed to process the repo's prompts; it also answers other
// members' forwarded requests and advert queries.
type Forwarder struct {
	d       *Daemon
	local   func() LocalInference // nil result: local inference off
	cfg     ForwardConfig
	log     *slog.Logger
	metrics *Metrics
	keys    []apiKey // cfg.APIKeys with their jurisdiction bindings

	mu       sync.Mutex
	adverts  map[peer.ID]advertEntry
	fetching map[string]chan struct{} // repo@rev → closed when the background pull ends
	needs    map[string]int64         // GGUF sha256 → bytes it takes loaded
}

// apiKey is a key of ForwardConfig.APIKeys and the jurisdiction the
// node's http.tokens bind it to ("" for none).
type apiKey struct {
	key          []byte
	jurisdiction string
}

type advertEntry struct {
	ad  forward.Advert
	err error
	at  time.Time
}

// NewForwarder returns the forwarder of d. local returns the node's OpenAI
// server, or nil while local inference is off; it is asked at each
// request. m may be nil.
func NewForwarder(d *Daemon, local func() LocalInference, cfg ForwardConfig, m *Metrics) (*Forwarder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.LoadCost == 0 {
		cfg.LoadCost = DefaultLoadCost
	}
	if cfg.ColdCost == 0 {
		cfg.ColdCost = DefaultColdCost
	}
	if cfg.AdvertTTL == 0 {
		cfg.AdvertTTL = DefaultAdvertTTL
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = d.log
	}
	if local == nil {
		local = func() LocalInference { return nil }
	}
	keys := make([]apiKey, len(cfg.APIKeys))
	for i, k := range cfg.APIKeys {
		keys[i].key = []byte(k)
		for _, t := range d.n.Config.HTTP.Tokens {
			if t.Token == k { // the last entry wins, as in hfapi
				keys[i].jurisdiction = t.Jurisdiction
			}
		}
	}
	return &Forwarder{d: d, local: local, cfg: cfg, log: cfg.Logger, metrics: m, keys: keys,
		adverts: map[peer.ID]advertEntry{}, fetching: map[string]chan struct{}{}, needs: map[string]int64{}}, nil
}

// Register answers /cairn/infer/1.0.0 on the daemon's host (members only).
func (f *Forwarder) Register() {
	if f.d.Host != nil {
		f.d.Host.Handle(ProtocolInfer, f.handleStream)
	}
}

// Mount routes the generation and model endpoints of mux here, ahead of
// the OpenAI server's "/v1/" (more precise patterns win).
func (f *Forwarder) Mount(mux *http.ServeMux) {
	mux.Handle("POST "+forward.PathCompletions, f)
	mux.Handle("POST "+forward.PathChat, f)
	mux.HandleFunc("GET /v1/models", f.serveModels)
	mux.HandleFunc("GET /v1/models/{id...}", f.serveModel)
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// serveModels lists the local models, or, while local inference is off,
// those the members allowed to process their prompts serve; for a key
// bound to a jurisdiction, only those it may use.
func (f *Forwarder) serveModels(w http.ResponseWriter, r *http.Request) {
	ok, juris := f.authenticate(r)
	if !ok {
		unauthorized(w)
		return
	}
	local := f.local()
	if local != nil && juris == "" {
		local.ServeHTTP(w, r)
		return
	}
	if local != nil {
		f.serveFilteredModels(w, r, local, juris)
		return
	}
	data := []modelObject{}
	for _, m := range f.remoteModels(r.Context()) {
		if f.mayUse(m.ID, juris) {
			data = append(data, m)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// serveFilteredModels is the local server's list of models less those a
// key bound to juris may not use.
func (f *Forwarder) serveFilteredModels(w http.ResponseWriter, r *http.Request, local LocalInference, juris string) {
	rec := &bufferedResponse{hdr: http.Header{}}
	local.ServeHTTP(rec, r)
	var list struct {
		Data []json.RawMessage `json:"data"`
	}
	if rec.status != http.StatusOK { // an error: passed on as it is
		maps.Copy(w.Header(), rec.hdr)
		w.WriteHeader(rec.status)
		w.Write(rec.body.Bytes())
		return
	}
	if err := json.Unmarshal(rec.body.Bytes(), &list); err != nil { // never passed on unfiltered
		apiError(w, http.StatusInternalServerError, "server_error", "", "", "the local model list could not be read: "+err.Error())
		return
	}
	data := []json.RawMessage{}
	for _, raw := range list.Data {
		var m struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &m) == nil && f.mayUse(m.ID, juris) {
			data = append(data, raw)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// serveModel answers GET /v1/models/{id}: the local server's answer, or,
// while local inference is off, the model if an allowed member serves it;
// 403 for a key bound to a jurisdiction that may not use it.
func (f *Forwarder) serveModel(w http.ResponseWriter, r *http.Request) {
	ok, juris := f.authenticate(r)
	if !ok {
		unauthorized(w)
		return
	}
	id := r.PathValue("id")
	if juris != "" {
		if mid, err := ParseModelID(id); err == nil && !f.permit(w, id, mid.Repo, juris) {
			return
		} // an id that does not parse names no model: 404 below
	}
	if local := f.local(); local != nil {
		local.ServeHTTP(w, r)
		return
	}
	for _, m := range f.remoteModels(r.Context()) {
		if m.ID == id {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(m)
			return
		}
	}
	apiError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "model",
		fmt.Sprintf("the model %q does not exist: no connected member allowed to process its prompts serves it", id))
}

// remoteModels are the models the members allowed to process their
// prompts serve, sorted by id.
func (f *Forwarder) remoteModels(ctx context.Context) []modelObject {
	data := []modelObject{}
	seen := map[string]bool{}
	for _, rt := range f.Routes(ctx) {
		if !rt.Serving {
			continue
		}
		for _, m := range rt.Models {
			if m.Allowed && !seen[m.ID] {
				seen[m.ID] = true
				org, _, _ := strings.Cut(m.ID, "/")
				data = append(data, modelObject{ID: m.ID, Object: "model", Created: time.Now().Unix(), OwnedBy: org})
			}
		}
	}
	slices.SortFunc(data, func(a, b modelObject) int { return strings.Compare(a.ID, b.ID) })
	return data
}

// Response headers naming who answered.
const (
	HeaderServedBy = "X-Cairn-Served-By" // peer ID of the node that generated
	HeaderRoute    = "X-Cairn-Route"     // "local" or "forwarded"
)

// ServeHTTP serves POST /v1/completions and /v1/chat/completions.
func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ok, juris := f.authenticate(r)
	if !ok {
		unauthorized(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, forward.MaxBody))
	if err != nil {
		apiError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "",
			fmt.Sprintf("the request body could not be read (at most %d bytes): %v", forward.MaxBody, err))
		return
	}
	cw := newCountingWriter(w, f.metrics)
	defer cw.done()
	w = cw
	var head struct {
		Model string `json:"model"`
	}
	local := f.local()
	// Read as the OpenAI server reads it (one JSON value, the last "model"
	// key), so the model checked here is the model it runs.
	if json.NewDecoder(bytes.NewReader(body)).Decode(&head) != nil || head.Model == "" {
		if local != nil { // its own words for a bad request
			f.serveLocal(w, r, local, body, "")
			return
		}
		apiError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "model", "the body must be a JSON object naming a model")
		return
	}
	req := forward.Request{Path: r.URL.Path, Model: head.Model, Body: body}
	mid, err := ParseModelID(head.Model)
	if err != nil {
		if local != nil {
			f.serveLocal(w, r, local, body, head.Model)
			return
		}
		apiError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "model", fmt.Sprintf("the model %q does not exist: %v", head.Model, err))
		return
	}
	// Decided here, before serving or forwarding: the token does not
	// travel to the member a request is forwarded to.
	if juris != "" && !f.permit(w, head.Model, mid.Repo, juris) {
		f.metrics.request("refused", head.Model)
		return
	}
	why, canLocal, wait := f.decide(r.Context(), local, mid, head.Model)
	if why == "" {
		if wait != nil {
			select {
			case <-wait:
			case <-r.Context().Done():
				return
			}
		}
		f.serveLocal(w, r, local, body, head.Model)
		return
	}
	f.log.Debug("forwarding", "model", head.Model, "why", why)
	if f.forwardRequest(w, r, req, mid, why, canLocal) || !canLocal {
		return
	}
	f.serveLocal(w, r, local, body, head.Model)
}

// authenticate maps the request's bearer token to whether it may use the
// API and the jurisdiction the node's http.tokens bind it to ("" for
// none); with no key configured the API is open and nobody is bound.
// Every key is compared, in constant time, and the match selected without
// a branch, so timing tells nothing about which key matched.
func (f *Forwarder) authenticate(r *http.Request) (ok bool, jurisdiction string) {
	if len(f.keys) == 0 {
		return true, ""
	}
	tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found {
		return false, ""
	}
	match := -1
	for i, k := range f.keys {
		match = subtle.ConstantTimeSelect(subtle.ConstantTimeCompare([]byte(tok), k.key), i, match)
	}
	if match < 0 {
		return false, ""
	}
	return true, f.keys[match].jurisdiction
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="cairn"`)
	apiError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "",
		"missing or incorrect API key: send \"Authorization: Bearer KEY\" with a key of http.tokens")
}

// tokenMember is what a key bound to juris counts as in residency
// decisions: a node of that jurisdiction, as on the Hugging Face API.
func tokenMember(juris string) *sovereignty.Member {
	return &sovereignty.Member{PeerID: "http-token", Jurisdiction: juris}
}

// tokenDecision is whether a key bound to juris may use repo's models:
// whether the policy lets juris receive the repo, the decision hfapi
// makes for the same token's reads. A refusal is audited.
func (f *Forwarder) tokenDecision(repo, juris string) sovereignty.Decision {
	m := tokenMember(juris)
	dec := f.d.Engine.Decide(sovereignty.Receive, repo, m)
	if !dec.Allow {
		f.d.audit(sovereignty.DenyEntry(sovereignty.Receive, repo, m, dec))
		f.log.Info("inference refused by policy for the key's jurisdiction", "repo", repo, "jurisdiction", juris, "reason", dec.Reason)
	}
	return dec
}

// mayUse reports whether a key bound to juris ("" for none) may use the
// model id; an id that does not parse is no model it may use.
func (f *Forwarder) mayUse(id, juris string) bool {
	if juris == "" {
		return true
	}
	mid, err := ParseModelID(id)
	return err == nil && f.tokenDecision(mid.Repo, juris).Allow
}

// permit reports whether a key bound to juris may use model (of repo),
// answering 403 jurisdiction_refused when it may not.
func (f *Forwarder) permit(w http.ResponseWriter, model, repo, juris string) bool {
	dec := f.tokenDecision(repo, juris)
	if dec.Allow {
		return true
	}
	apiError(w, http.StatusForbidden, "invalid_request_error", "jurisdiction_refused", "model",
		fmt.Sprintf("this API key is bound to jurisdiction %s, and the residency policy does not let %s receive %s, so the key may not use the model %q: %s",
			juris, juris, repo, model, dec.Reason))
	return false
}

func (f *Forwarder) serveLocal(w http.ResponseWriter, r *http.Request, local LocalInference, body []byte, model string) {
	f.metrics.request("local", model)
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	w.Header().Set(HeaderRoute, "local")
	w.Header().Set(HeaderServedBy, f.d.n.ID.String())
	local.ServeHTTP(w, r2)
}

// decide says why the node should not serve mid itself ("" when it
// should), whether serving it here remains possible when forwarding
// fails, and what to wait for before serving it here (a background pull).
func (f *Forwarder) decide(ctx context.Context, local LocalInference, mid ModelID, id string) (why string, canLocal bool, wait <-chan struct{}) {
	if local == nil {
		return "local inference is disabled on this node (inference.disabled)", false, nil
	}
	// Prompts are data too: this node processes them only where the
	// policy lets its own jurisdiction do so.
	if self := f.d.Self(); self != nil {
		if dec := f.d.Engine.Decide(sovereignty.Prompts, mid.Repo, self); !dec.Allow {
			f.d.audit(sovereignty.DenyEntry(sovereignty.Prompts, mid.Repo, self, dec))
			return "the policy does not let this node process prompts of " + mid.Repo + ": " + dec.Reason, false, nil
		}
	}
	for _, l := range local.Loaded() {
		if l.ID == id && !l.Pending { // a pending one still waits for room
			return "", true, nil
		}
	}
	m, err := f.d.n.Store.Resolve(ctx, manifest.Model, mid.Repo, mid.Rev)
	if err != nil {
		// Not held: a peer that has it loaded answers at once, while this
		// node pulls it for the next requests.
		key := mid.Repo + "@" + mid.Rev
		if f.d.Host == nil {
			return "", true, nil
		}
		if self := f.d.Self(); self != nil {
			if dec := f.d.Engine.Decide(sovereignty.Hold, mid.Repo, self); !dec.Allow {
				return "the policy does not let this node hold " + mid.Repo + ": " + dec.Reason, false, nil
			}
		}
		if c, _ := f.candidates(ctx, mid, true); len(c) > 0 {
			if !f.cfg.NoPrefetch {
				f.prefetch(mid)
			}
			return "the node is still fetching " + key + " and a member serves it", true, nil
		}
		f.mu.Lock()
		ch := f.fetching[key]
		f.mu.Unlock()
		return "", true, ch
	}
	need, err := f.need(ctx, m, mid)
	if err != nil {
		return "", true, nil // the server reports the model's problem
	}
	limit := f.cfg.MemoryLimit
	if limit == 0 {
		limit = availableMemory()
	}
	if limit > 0 && need > limit {
		return fmt.Sprintf("%s needs %d MB (file and KV cache), more than the %d MB this node has", id, need>>20, limit>>20), false, nil
	}
	return "", true, nil
}

// prefetch pulls mid's revision in the background, once.
func (f *Forwarder) prefetch(mid ModelID) {
	key := mid.Repo + "@" + mid.Rev
	f.mu.Lock()
	if _, ok := f.fetching[key]; ok {
		f.mu.Unlock()
		return
	}
	done := make(chan struct{})
	f.fetching[key] = done
	f.mu.Unlock()
	go func() {
		defer func() {
			f.mu.Lock()
			delete(f.fetching, key)
			f.mu.Unlock()
			close(done)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		// The same message as a pull on demand (Models): one pull per model.
		f.log.Info("model pull", "repo", mid.Repo, "rev", mid.Rev, "background", true)
		res, err := f.d.Pull(ctx, manifest.Model, mid.Repo, mid.Rev, PullOptions{})
		if err != nil {
			f.log.Warn("background model pull failed", "repo", mid.Repo, "rev", mid.Rev, "err", err)
			return
		}
		f.log.Info("background model pull done", "repo", mid.Repo, "rev", mid.Rev, "bytes", res.Stats.Bytes)
	}()
}

// need is the memory mid's GGUF file takes loaded: the file plus the KV
// cache of the engine's default context.
func (f *Forwarder) need(ctx context.Context, m *manifest.Manifest, mid ModelID) (int64, error) {
	file, err := pickGGUF(m, mid)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	n, ok := f.needs[file.SHA256]
	f.mu.Unlock()
	if ok {
		return n, nil
	}
	r, err := chunker.NewReader(ctx, f.d.n.Store, file.CID)
	if err != nil {
		return 0, err
	}
	g, err := gguf.Read(r, file.Size)
	if err != nil {
		return 0, fmt.Errorf("model %s: %w", file.Path, err)
	}
	defer g.Close()
	n = file.Size + kvBytes(g)
	f.mu.Lock()
	f.needs[file.SHA256] = n
	f.mu.Unlock()
	return n, nil
}

// kvBytes is the KV cache of the context the engine opens by default,
// 0 when the header does not say.
func kvBytes(g *gguf.File) int64 {
	n, _ := inference.KVCacheBytes(g, inference.Config{})
	return n
}

// availableMemory is MemAvailable from /proc/meminfo, 0 when unknown.
func availableMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			if fs := strings.Fields(rest); len(fs) > 0 {
				kb, _ := strconv.ParseInt(fs[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// candidate is a member that serves a model, with what choosing it costs.
type candidate struct {
	peer   p2p.PeerInfo
	load   int
	loaded bool
	cost   time.Duration
}

// refusal is a member that serves a model but may not process its
// prompts.
type refusal struct {
	peer   p2p.PeerInfo
	reason string
}

// candidates are the members that serve mid (with it loaded, if
// wantLoaded) and that the policy allows to process its prompts, cheapest
// first; and those it does not allow, each refusal audited.
func (f *Forwarder) candidates(ctx context.Context, mid ModelID, wantLoaded bool) ([]candidate, []refusal) {
	if f.d.Host == nil {
		return nil, nil
	}
	peers := f.d.Host.Peers()
	ads := f.advertsOf(ctx, peers)
	var out []candidate
	var refused []refusal
	for i, p := range peers {
		ad := ads[i]
		if ad == nil || !ad.Serving || p.Member == nil {
			continue
		}
		ma, ok := matchModel(ad, mid)
		if !ok || (wantLoaded && !ma.Loaded) {
			continue
		}
		dec := f.d.Engine.Decide(sovereignty.Prompts, mid.Repo, p.Member)
		if !dec.Allow {
			refused = append(refused, refusal{p, fmt.Sprintf("%s (%s): %s", p.ID, p.Member.Jurisdiction, dec.Reason)})
			f.d.audit(sovereignty.DenyEntry(sovereignty.Prompts, mid.Repo, p.Member, dec))
			continue
		}
		rtt := p.RTT
		if rtt == 0 {
			rtt = time.Second // unmeasured: after every measured peer
		}
		c := candidate{peer: p, load: ad.Load, loaded: ma.Loaded, cost: rtt + time.Duration(ad.Load)*f.cfg.LoadCost}
		if !ma.Loaded {
			c.cost += f.cfg.ColdCost
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b candidate) int { return int(a.cost - b.cost) })
	return out, refused
}

// matchModel finds the advert's entry for mid.
func matchModel(ad *forward.Advert, mid ModelID) (forward.ModelAd, bool) {
	var found forward.ModelAd
	ok := false
	for _, m := range ad.Models {
		if m.Repo != mid.Repo || m.Rev != mid.Rev {
			continue
		}
		if mid.File == "" && len(m.Files) > 1 || mid.File != "" && len(m.Files) > 0 && !slices.Contains(m.Files, mid.File) {
			continue
		}
		if !ok || m.Loaded {
			found, ok = m, true
		}
	}
	return found, ok
}

// advertsOf returns each peer's advert (nil when it did not answer),
// asking those whose advert is older than AdvertTTL, all at once.
func (f *Forwarder) advertsOf(ctx context.Context, peers []p2p.PeerInfo) []*forward.Advert {
	out := make([]*forward.Advert, len(peers))
	var wg sync.WaitGroup
	now := time.Now()
	for i, p := range peers {
		f.mu.Lock()
		e, ok := f.adverts[p.ID]
		f.mu.Unlock()
		if ok && now.Sub(e.at) < f.cfg.AdvertTTL {
			if e.err == nil {
				out[i] = &e.ad
			}
			continue
		}
		wg.Go(func() {
			ad, err := f.Query(ctx, p.ID)
			f.mu.Lock()
			f.adverts[p.ID] = advertEntry{ad: ad, err: err, at: time.Now()}
			f.mu.Unlock()
			if err == nil {
				out[i] = &ad
			} else {
				f.log.Debug("infer advert", "peer", p.ID, "err", err)
			}
		})
	}
	wg.Wait()
	return out
}

// Query asks peer p what it serves.
func (f *Forwarder) Query(ctx context.Context, p peer.ID) (forward.Advert, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.QueryTimeout)
	defer cancel()
	s, err := f.d.Host.Libp2p().NewStream(ctx, p, ProtocolInfer)
	if err != nil {
		return forward.Advert{}, err
	}
	defer s.Close()
	dl, _ := ctx.Deadline()
	s.SetDeadline(dl)
	if err := forward.WriteFrame(s, forward.KindQuery, nil); err != nil {
		s.Reset()
		return forward.Advert{}, err
	}
	s.CloseWrite()
	k, payload, err := forward.ReadFrame(bufio.NewReader(s))
	if err != nil {
		return forward.Advert{}, err
	}
	if k != forward.KindAdvert {
		return forward.Advert{}, fmt.Errorf("%w: answer of kind %q to a query", forward.ErrFrame, k)
	}
	var ad forward.Advert
	return ad, forward.Decode(payload, &ad)
}

// Route is one member in the routing view: what it serves, how near and
// how busy it is, and whether this node may send it prompts of each model.
type Route struct {
	Peer         peer.ID
	Jurisdiction string
	RTT          time.Duration
	Serving      bool
	Load         int
	Models       []RouteModel
	Err          string // the advert query failed
}

// RouteModel is a model a member serves.
type RouteModel struct {
	ID      string
	Loaded  bool
	Allowed bool   // the policy allows this member to process its prompts
	Reason  string // the policy's reason
}

// Routes asks every member what it serves (fresh adverts, all at once).
func (f *Forwarder) Routes(ctx context.Context) []Route {
	if f.d.Host == nil {
		return nil
	}
	peers := f.d.Host.Peers()
	out := make([]Route, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() { out[i] = f.route(ctx, p) })
	}
	wg.Wait()
	return out
}

func (f *Forwarder) route(ctx context.Context, p p2p.PeerInfo) Route {
	r := Route{Peer: p.ID, RTT: p.RTT}
	if p.Member != nil {
		r.Jurisdiction = p.Member.Jurisdiction
	}
	ad, err := f.Query(ctx, p.ID)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	f.mu.Lock()
	f.adverts[p.ID] = advertEntry{ad: ad, at: time.Now()}
	f.mu.Unlock()
	r.Serving, r.Load = ad.Serving, ad.Load
	for _, m := range ad.Models {
		id := m.Repo
		if m.Rev != "main" {
			id += "@" + m.Rev
		}
		if len(m.Files) > 1 {
			for _, fl := range m.Files {
				r.Models = append(r.Models, f.routeModel(id+"/"+fl, m, p))
			}
			continue
		}
		r.Models = append(r.Models, f.routeModel(id, m, p))
	}
	return r
}

func (f *Forwarder) routeModel(id string, m forward.ModelAd, p p2p.PeerInfo) RouteModel {
	dec := sovereignty.Decision{Reason: "no certificate"}
	if p.Member != nil {
		dec = f.d.Engine.Decide(sovereignty.Prompts, m.Repo, p.Member)
	}
	return RouteModel{ID: id, Loaded: m.Loaded, Allowed: dec.Allow, Reason: dec.Reason}
}

// forwardRequest sends req to the cheapest allowed member serving the
// model, failing over to the next while none has sent anything. It
// reports whether it answered the client (false: nothing was written and
// the caller may serve the request itself).
func (f *Forwarder) forwardRequest(w http.ResponseWriter, r *http.Request, req forward.Request, mid ModelID, why string, canLocal bool) bool {
	ctx := r.Context()
	cands, refused := f.candidates(ctx, mid, false)
	if len(cands) == 0 {
		if canLocal {
			return false
		}
		f.metrics.request("refused", req.Model)
		if len(refused) > 0 {
			reasons := make([]string, len(refused))
			for i, x := range refused {
				reasons[i] = x.reason
			}
			f.log.Warn("forward refused by policy", "model", req.Model, "why", why, "refused", reasons)
			apiError(w, http.StatusForbidden, "invalid_request_error", "jurisdiction_not_allowed", "model",
				fmt.Sprintf("this node cannot serve %q (%s), and the policy lets none of the members that serve it process its prompts: %s",
					req.Model, why, strings.Join(reasons, "; ")))
			return true
		}
		if f.local() == nil {
			apiError(w, http.StatusServiceUnavailable, "server_error", "inference_disabled", "",
				fmt.Sprintf("%s, and no connected member serves %q", why, req.Model))
			return true
		}
		apiError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "model",
			fmt.Sprintf("the model %q cannot be served: %s, and no connected member serves it", req.Model, why))
		return true
	}
	var errs []string
	var refusedBy *peerStatusError // the last member's own refusal, passed on when none answers
	for _, c := range cands {
		sent, err := f.forwardTo(ctx, w, c.peer.ID, req)
		if sent {
			if err != nil {
				f.metrics.forwarded(c.peer.ID, "cut")
			} else {
				f.metrics.forwarded(c.peer.ID, "ok")
			}
			return true
		}
		if ctx.Err() != nil {
			return true
		}
		if pe, ok := err.(*peerStatusError); ok {
			refusedBy = pe
		}
		f.metrics.forwarded(c.peer.ID, "failed")
		f.log.Warn("forward failed, trying the next member", "model", req.Model, "peer", c.peer.ID, "err", err)
		errs = append(errs, fmt.Sprintf("%s: %v", c.peer.ID, err))
		f.mu.Lock()
		delete(f.adverts, c.peer.ID)
		f.mu.Unlock()
	}
	if canLocal {
		return false
	}
	f.metrics.request("failed", req.Model)
	if refusedBy != nil && len(errs) == 1 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(refusedBy.status)
		io.WriteString(w, refusedBy.body)
		return true
	}
	apiError(w, http.StatusBadGateway, "server_error", "forward_failed", "",
		fmt.Sprintf("every member that serves %q failed: %s", req.Model, strings.Join(errs, "; ")))
	return true
}

// errPeerRefused is a peer's answer that the next peer may do better
// (busy, not serving, its policy refuses).
type peerStatusError struct {
	status int
	body   string
}

func (e *peerStatusError) Error() string {
	return fmt.Sprintf("status %d: %s", e.status, strings.TrimSpace(e.body))
}

// forwardTo runs req on p, streaming its answer to w. sent reports whether
// anything was written to w; err, when sent, means the stream was cut.
func (f *Forwarder) forwardTo(ctx context.Context, w http.ResponseWriter, p peer.ID, req forward.Request) (sent bool, err error) {
	s, err := f.d.Host.Libp2p().NewStream(ctx, p, ProtocolInfer)
	if err != nil {
		return false, err
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	defer s.Close()
	if err := forward.WriteJSON(s, forward.KindRequest, req); err != nil {
		s.Reset()
		return false, err
	}
	s.CloseWrite()
	br := bufio.NewReaderSize(s, 64<<10)
	k, payload, err := forward.ReadFrame(br)
	if err != nil {
		return false, err
	}
	if k != forward.KindHead {
		return false, fmt.Errorf("%w: first answer frame of kind %q", forward.ErrFrame, k)
	}
	var head forward.Head
	if err := forward.Decode(payload, &head); err != nil {
		return false, err
	}
	streaming := strings.HasPrefix(head.ContentType, "text/event-stream")
	// Hold the answer until it is worth sending: the whole body unless
	// it streams, else the first event; a peer that dies before that is
	// replaced by the next, unseen by the client.
	var held []byte
	for done := false; !done; {
		k, payload, err := forward.ReadFrame(br)
		if err != nil {
			return false, err
		}
		switch k {
		case forward.KindData:
			held = append(held, payload...)
			if len(held) > forward.MaxBody {
				return false, fmt.Errorf("%w: answer larger than %d bytes", forward.ErrFrame, forward.MaxBody)
			}
			done = streaming
		case forward.KindEnd:
			streaming, done = false, true
		default:
			return false, fmt.Errorf("%w: answer frame of kind %q", forward.ErrFrame, k)
		}
	}
	if head.Status == http.StatusServiceUnavailable || head.Status == http.StatusForbidden {
		return false, &peerStatusError{head.Status, string(held)}
	}
	h := w.Header()
	if head.ContentType != "" {
		h.Set("Content-Type", head.ContentType)
	}
	if head.RetryAfter != "" {
		h.Set("Retry-After", head.RetryAfter)
	}
	if streaming {
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
	}
	h.Set(HeaderRoute, "forwarded")
	h.Set(HeaderServedBy, p.String())
	f.metrics.request("forwarded", req.Model)
	w.WriteHeader(head.Status)
	rc := http.NewResponseController(w)
	if _, err := w.Write(held); err != nil {
		return true, err
	}
	rc.Flush()
	if !streaming {
		return true, nil
	}
	for {
		k, payload, err := forward.ReadFrame(br)
		if err == nil && k == forward.KindEnd {
			return true, nil
		}
		if err == nil && k != forward.KindData {
			err = fmt.Errorf("%w: answer frame of kind %q", forward.ErrFrame, k)
		}
		if err != nil {
			if ctx.Err() != nil {
				return true, err
			}
			f.log.Warn("forwarded stream cut", "model", req.Model, "peer", p, "err", err)
			ev, _ := json.Marshal(errorBody(fmt.Sprintf("the member %s serving %q stopped mid-answer: %v", p, req.Model, err), "server_error", "peer_gone", ""))
			w.Write(append(append([]byte("data: "), ev...), "\n\n"...))
			rc.Flush()
			return true, err
		}
		if _, err := w.Write(payload); err != nil {
			s.Reset()
			return true, err
		}
		rc.Flush()
	}
}

// handleStream answers a member's advert query or forwarded request.
func (f *Forwarder) handleStream(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	m, ok := f.d.Host.Member(from)
	if !ok {
		s.Reset()
		return
	}
	br := bufio.NewReaderSize(s, 64<<10)
	s.SetReadDeadline(time.Now().Add(30 * time.Second))
	k, payload, err := forward.ReadFrame(br)
	if err != nil {
		s.Reset()
		return
	}
	s.SetReadDeadline(time.Time{})
	switch k {
	case forward.KindQuery:
		s.SetWriteDeadline(time.Now().Add(10 * time.Second))
		forward.WriteJSON(s, forward.KindAdvert, f.advert(context.Background()))
		return
	case forward.KindRequest:
	default:
		s.Reset()
		return
	}
	var req forward.Request
	if err := forward.Decode(payload, &req); err != nil {
		f.log.Info("forwarded request refused", "peer", from, "err", err)
		s.Reset()
		return
	}
	fw := &frameWriter{bw: bufio.NewWriterSize(s, 64<<10), hdr: http.Header{}}
	defer fw.finish()
	mid, err := ParseModelID(req.Model)
	repo := req.Model
	if err == nil {
		repo = mid.Repo
	}
	// The prompt comes here only if this node may process the repo's
	// prompts (the sender checked with its copy of the policy; this is
	// ours) and the sender is a member (the gate) whom the policy knows.
	// The client's API key stays on the sender, which authenticated it
	// and applied its jurisdiction binding before forwarding (ServeHTTP);
	// it does not travel, so there is nothing to re-check here, and a
	// member is trusted, as for everything else, to apply the policy.
	self := f.d.Self()
	if self == nil {
		apiError(fw, http.StatusForbidden, "invalid_request_error", "jurisdiction_not_allowed", "model", "the serving node has no verified certificate")
		return
	}
	if dec := f.d.Engine.Decide(sovereignty.Prompts, repo, self); !dec.Allow {
		f.d.audit(sovereignty.DenyEntry(sovereignty.Prompts, repo, self, dec))
		f.log.Warn("forwarded request refused by policy", "peer", from, "org", m.Org, "model", req.Model, "reason", dec.Reason)
		apiError(fw, http.StatusForbidden, "invalid_request_error", "jurisdiction_not_allowed", "model",
			fmt.Sprintf("the policy does not let node %s (%s) process prompts of %s: %s", f.d.n.ID, self.Jurisdiction, repo, dec.Reason))
		return
	}
	local := f.local()
	if local == nil {
		apiError(fw, http.StatusServiceUnavailable, "server_error", "inference_disabled", "",
			fmt.Sprintf("local inference is disabled on node %s", f.d.n.ID))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // the sender has closed its side: anything more is a reset
		if _, err := io.Copy(io.Discard, br); err != nil {
			cancel()
		}
	}()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.Path, bytes.NewReader(req.Body))
	if err != nil {
		apiError(fw, http.StatusBadRequest, "invalid_request_error", "invalid_value", "", err.Error())
		return
	}
	hr.Header.Set("Content-Type", "application/json")
	if len(f.cfg.APIKeys) > 0 {
		hr.Header.Set("Authorization", "Bearer "+f.cfg.APIKeys[0])
	}
	f.metrics.request("served_for_peer", req.Model)
	f.log.Debug("serving forwarded request", "peer", from, "model", req.Model)
	local.ServeHTTP(fw, hr)
}

// advert is what this node serves now.
func (f *Forwarder) advert(ctx context.Context) forward.Advert {
	local := f.local()
	ad := forward.Advert{Serving: local != nil, Models: []forward.ModelAd{}}
	refs, err := f.d.n.Store.Refs(ctx, manifest.Model, "")
	if err != nil {
		f.log.Warn("advert: list refs", "err", err)
	}
	for _, r := range refs {
		if len(ad.Models) >= forward.MaxModels {
			break
		}
		m, err := f.d.n.Store.Manifest(ctx, manifest.Model, r.Repo, r.Commit)
		if err != nil {
			continue
		}
		files := ggufFiles(m)
		if len(files) == 0 {
			continue
		}
		ma := forward.ModelAd{Repo: r.Repo, Rev: r.Revision}
		for _, fl := range files {
			ma.Files = append(ma.Files, fl.Path)
		}
		ad.Models = append(ad.Models, ma)
	}
	if local == nil {
		return ad
	}
	for _, l := range local.Loaded() {
		if l.Busy {
			ad.Load++
		}
		ad.Load += l.Waiting
		mid, err := ParseModelID(l.ID)
		if err != nil {
			continue
		}
		i := slices.IndexFunc(ad.Models, func(m forward.ModelAd) bool { return m.Repo == mid.Repo && m.Rev == mid.Rev })
		if i < 0 {
			if len(ad.Models) >= forward.MaxModels {
				continue
			}
			ma := forward.ModelAd{Repo: mid.Repo, Rev: mid.Rev}
			if mid.File != "" {
				ma.Files = []string{mid.File}
			}
			ad.Models = append(ad.Models, ma)
			i = len(ad.Models) - 1
		}
		ad.Models[i].Loaded = ad.Models[i].Loaded || !l.Pending
		ad.Models[i].Waiting += l.Waiting
	}
	return ad
}

// bufferedResponse holds an answer of the local server for rewriting.
type bufferedResponse struct {
	hdr    http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.hdr }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// frameWriter is the http.ResponseWriter of a forwarded request: the head
// goes out with the first flushed bytes, each flush as one data frame.
type frameWriter struct {
	bw       *bufio.Writer
	hdr      http.Header
	status   int
	headSent bool
	pending  []byte
	err      error
}

func (fw *frameWriter) Header() http.Header { return fw.hdr }

func (fw *frameWriter) WriteHeader(code int) {
	if fw.status == 0 {
		fw.status = code
	}
}

func (fw *frameWriter) Write(b []byte) (int, error) {
	if fw.err != nil {
		return 0, fw.err
	}
	fw.WriteHeader(http.StatusOK)
	fw.pending = append(fw.pending, b...)
	if len(fw.pending) >= 64<<10 {
		fw.FlushError()
	}
	return len(b), fw.err
}

func (fw *frameWriter) Flush() { fw.FlushError() }

func (fw *frameWriter) FlushError() error {
	if fw.err != nil {
		return fw.err
	}
	fw.WriteHeader(http.StatusOK)
	if !fw.headSent {
		fw.headSent = true
		h := forward.Head{Status: fw.status, ContentType: fw.hdr.Get("Content-Type"), RetryAfter: fw.hdr.Get("Retry-After")}
		if fw.err = forward.WriteJSON(fw.bw, forward.KindHead, h); fw.err != nil {
			return fw.err
		}
	}
	if len(fw.pending) > 0 {
		if fw.err = forward.WriteFrame(fw.bw, forward.KindData, fw.pending); fw.err != nil {
			return fw.err
		}
		fw.pending = fw.pending[:0]
	}
	fw.err = fw.bw.Flush()
	return fw.err
}

// finish sends what remains and the end frame.
func (fw *frameWriter) finish() {
	if fw.FlushError() != nil {
		return
	}
	if forward.WriteFrame(fw.bw, forward.KindEnd, nil) == nil {
		fw.bw.Flush()
	}
}

type errorFields struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func errorBody(msg, typ, code, param string) map[string]errorFields {
	nullable := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return map[string]errorFields{"error": {Message: msg, Type: typ, Param: nullable(param), Code: nullable(code)}}
}

// apiError answers with an error in OpenAI's shape.
func apiError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody(msg, typ, code, param))
}
