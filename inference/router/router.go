package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/internal/httpauth"
	"github.com/cairnhub/cairn/metrics"
	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/infer"
	"github.com/cairnhub/cairn/sovereignty"
)

// Local is the node's own OpenAI server (*openai.Server).
type Local interface {
	http.Handler
	Loaded() []openai.LoadedModel
}

// Decider applies the residency policy; *sovereignty.Engine satisfies it.
type Decider interface {
	Decide(a sovereignty.Action, repo string, m *sovereignty.Member) sovereignty.Decision
}

// Members are the connected members and the host to reach them on;
// *p2p.Host satisfies it.
type Members interface {
	Peers() []p2p.PeerInfo
	Member(p peer.ID) (*sovereignty.Member, bool)
	// Connect dials a peer and returns once it is a member.
	Connect(ctx context.Context, ai peer.AddrInfo) error
	// Libp2p is the host admitting members only.
	Libp2p() host.Host
}

// Deps are what the router works with; the node builds them.
type Deps struct {
	// ID is this node's peer ID, named in answers it serves.
	ID peer.ID
	// Self is this node's verified membership; nil without a certificate.
	Self *sovereignty.Member
	// Policy decides residency; Audit records its refusals. Required.
	Policy Decider
	Audit  func(sovereignty.Entry)
	// Store holds the node's models. Required.
	Store models.Store
	// Members are the connected members; nil without peer-to-peer.
	Members Members
	// Gossip is the control plane: this node's advert is published on it
	// and others' find servers beyond the connected members.
	// Nil: connected members only. Needs Members.
	Gossip Gossip
	// Pull fetches a model in the background; nil: no prefetch.
	Pull models.Puller
	// Local is the node's OpenAI server; nil while local inference is off.
	Local Local
	// Keys are the node's http.tokens: the API keys clients must send,
	// each maybe bound to a jurisdiction. Empty: open.
	Keys httpauth.Keys
	// Metrics records requests and answers; nil: none.
	Metrics *metrics.Metrics
}

// Defaults of Config.
const (
	DefaultLoadCost      = 250 * time.Millisecond
	DefaultColdCost      = 500 * time.Millisecond
	DefaultAdvertTTL     = 2 * time.Second
	DefaultQueryTimeout  = 2 * time.Second
	DefaultAdvertCheck   = 5 * time.Second
	DefaultAdvertRefresh = time.Minute
	DefaultHeardTTL      = 3 * time.Minute
	DefaultMaxDial       = 3
	DefaultDialTimeout   = 5 * time.Second
	// prefetchTimeout bounds a background pull of a model.
	prefetchTimeout = time.Hour
	// unmeasuredRTT is what a peer whose round-trip time is unknown costs:
	// more than any measured peer.
	unmeasuredRTT = time.Second
)

// Config tunes a Router. The zero value is the default.
type Config struct {
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
	// AdvertCheck is how often the node looks whether what it serves
	// changed, and publishes its advert on gossip if so: it also bounds
	// the rate of its adverts. Default 5s.
	AdvertCheck time.Duration
	// AdvertRefresh is how often the advert is published unchanged.
	// Default 1 min.
	AdvertRefresh time.Duration
	// HeardTTL is how long a gossiped advert counts after it arrived;
	// longer than AdvertRefresh. Default 3 min.
	HeardTTL time.Duration
	// MaxDial bounds the servers heard of by gossip dialled for one
	// request when no connected member serves the model. Default 3.
	MaxDial int
	// DialTimeout bounds dialling one of them and its hello. Default 5s.
	DialTimeout time.Duration
	// NoPrefetch stops the node from pulling, in the background, a model
	// it forwarded because it did not hold it. Default false: it pulls,
	// and serves the model itself once it has it.
	NoPrefetch bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Validate reports values out of range.
func (c Config) Validate() error {
	if c.MemoryLimit < 0 || c.LoadCost < 0 || c.ColdCost < 0 || c.AdvertTTL < 0 || c.QueryTimeout < 0 ||
		c.AdvertCheck < 0 || c.AdvertRefresh < 0 || c.HeardTTL < 0 || c.MaxDial < 0 || c.DialTimeout < 0 {
		return errors.New("router config: negative value")
	}
	if d := c.withDefaults(); d.HeardTTL <= d.AdvertRefresh {
		return fmt.Errorf("router config: heard TTL %v must exceed the advert refresh %v", d.HeardTTL, d.AdvertRefresh)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.LoadCost == 0 {
		c.LoadCost = DefaultLoadCost
	}
	if c.ColdCost == 0 {
		c.ColdCost = DefaultColdCost
	}
	if c.AdvertTTL == 0 {
		c.AdvertTTL = DefaultAdvertTTL
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = DefaultQueryTimeout
	}
	if c.AdvertCheck == 0 {
		c.AdvertCheck = DefaultAdvertCheck
	}
	if c.AdvertRefresh == 0 {
		c.AdvertRefresh = DefaultAdvertRefresh
	}
	if c.HeardTTL == 0 {
		c.HeardTTL = DefaultHeardTTL
	}
	if c.MaxDial == 0 {
		c.MaxDial = DefaultMaxDial
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Router decides, for each OpenAI generation request reaching the node's
// HTTP API, whether the node serves it or hands it to the nearest member
// allowed to process the repo's prompts; it also answers other members'
// forwarded requests and advert queries (p2p/infer).
type Router struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	metrics *metrics.Metrics
	infer   *infer.Service // nil without peers

	mu       sync.Mutex
	adverts  map[peer.ID]advertEntry
	fetching map[string]chan struct{} // repo@rev → closed when the background pull ends
	needs    map[string]int64         // GGUF sha256 → bytes it takes loaded
	// dialFailed are servers heard of by gossip that could not be dialled.
	dialFailed map[peer.ID]time.Time
}

type advertEntry struct {
	ad  infer.Advert
	err error
	at  time.Time
}

// New returns the router of a node and, when it has members, registers
// its handler of /cairn/infer/1.0.0 on their host.
func New(cfg Config, deps Deps) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Policy == nil || deps.Store == nil {
		return nil, errors.New("router: Policy and Store are required")
	}
	if deps.Audit == nil {
		deps.Audit = func(sovereignty.Entry) {}
	}
	cfg = cfg.withDefaults()
	r := &Router{cfg: cfg, deps: deps, log: cfg.Logger, metrics: deps.Metrics,
		adverts: map[peer.ID]advertEntry{}, fetching: map[string]chan struct{}{}, needs: map[string]int64{}, dialFailed: map[peer.ID]time.Time{}}
	if deps.Members != nil {
		r.infer = infer.New(deps.Members.Libp2p(), r, cfg.Logger)
	} else {
		r.deps.Gossip = nil
	}
	return r, nil
}

// Run publishes this node's advert on gossip (when it has gossip) until
// ctx ends, then stops answering members: forwarded requests being served
// end, so that the OpenAI server can close.
func (rt *Router) Run(ctx context.Context) error {
	if rt.deps.Gossip != nil {
		rt.runAdverts(ctx)
	}
	<-ctx.Done()
	return rt.Close()
}

// Close removes the protocol handler and ends the forwarded requests
// being served.
func (rt *Router) Close() error {
	if rt.infer != nil {
		return rt.infer.Close()
	}
	return nil
}

// ServeModels answers GET /v1/models: it lists the local models, or, while local inference is off,
// those the members allowed to process their prompts serve; for a key
// bound to a jurisdiction, only those it may use.
func (rt *Router) ServeModels(w http.ResponseWriter, r *http.Request) {
	key, err := rt.deps.Keys.Check(r)
	if err != nil {
		openai.Unauthorized(w)
		return
	}
	juris := key.Jurisdiction
	local := rt.deps.Local
	if local != nil && juris == "" {
		local.ServeHTTP(w, r)
		return
	}
	if local != nil {
		rt.serveFilteredModels(w, r, local, juris)
		return
	}
	data := []openai.ModelObject{}
	for _, m := range rt.remoteModels(r.Context()) {
		if rt.mayUse(m.ID, juris) {
			data = append(data, m)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// serveFilteredModels is the local server's list of models less those a
// key bound to juris may not use.
func (rt *Router) serveFilteredModels(w http.ResponseWriter, r *http.Request, local Local, juris string) {
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
		writeError(w, http.StatusInternalServerError, "server_error", "", "", "the local model list could not be read: "+err.Error())
		return
	}
	data := []json.RawMessage{}
	for _, raw := range list.Data {
		var m struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &m) == nil && rt.mayUse(m.ID, juris) {
			data = append(data, raw)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// ServeModel answers GET /v1/models/{id}: the local server's answer, or,
// while local inference is off, the model if an allowed member serves it;
// 403 for a key bound to a jurisdiction that may not use it.
func (rt *Router) ServeModel(w http.ResponseWriter, r *http.Request) {
	key, err := rt.deps.Keys.Check(r)
	if err != nil {
		openai.Unauthorized(w)
		return
	}
	juris := key.Jurisdiction
	id := r.PathValue("id")
	if juris != "" {
		if mid, err := models.ParseID(id); err == nil && !rt.permit(w, id, mid.Repo, juris) {
			return
		} // an id that does not parse names no model: 404 below
	}
	if local := rt.deps.Local; local != nil {
		local.ServeHTTP(w, r)
		return
	}
	for _, m := range rt.remoteModels(r.Context()) {
		if m.ID == id {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(m)
			return
		}
	}
	writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "model", fmt.Sprintf("the model %q does not exist: no connected member allowed to process its prompts serves it", id))
}

// remoteModels are the models the members allowed to process their
// prompts serve, sorted by id.
func (rt *Router) remoteModels(ctx context.Context) []openai.ModelObject {
	data := []openai.ModelObject{}
	seen := map[string]bool{}
	for _, view := range rt.Routes(ctx) {
		if !view.Serving {
			continue
		}
		for _, m := range view.Models {
			if m.Allowed && !seen[m.ID] {
				seen[m.ID] = true
				data = append(data, openai.NewModelObject(m.ID, time.Now(), ""))
			}
		}
	}
	slices.SortFunc(data, func(a, b openai.ModelObject) int { return strings.Compare(a.ID, b.ID) })
	return data
}

// Response headers naming who answered.
const (
	HeaderServedBy = "X-Cairn-Served-By" // peer ID of the node that generated
	HeaderRoute    = "X-Cairn-Route"     // "local" or "forwarded"
)

// ServeHTTP serves POST /v1/completions, /v1/chat/completions and
// /v1/embeddings: an embeddings request is routed, refused and forwarded
// as a generation is.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, err := rt.deps.Keys.Check(r)
	if err != nil {
		openai.Unauthorized(w)
		return
	}
	juris := key.Jurisdiction
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, infer.MaxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "", fmt.Sprintf("the request body could not be read (at most %d bytes): %v", infer.MaxBody, err))
		return
	}
	w, done := rt.metrics.CountAnswer(w, HeaderRoute)
	defer done()
	var head struct {
		Model string `json:"model"`
	}
	local := rt.deps.Local
	// Read as the OpenAI server reads it (one JSON value, the last "model"
	// key), so the model checked here is the model it runs.
	if json.NewDecoder(bytes.NewReader(body)).Decode(&head) != nil || head.Model == "" {
		if local != nil { // its own words for a bad request
			rt.serveLocal(w, r, local, body, "")
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "model", "the body must be a JSON object naming a model")
		return
	}
	req := infer.Request{Path: r.URL.Path, Model: head.Model, Body: body}
	mid, err := models.ParseID(head.Model)
	if err != nil {
		if local != nil {
			rt.serveLocal(w, r, local, body, head.Model)
			return
		}
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "model", fmt.Sprintf("the model %q does not exist: %v", head.Model, err))
		return
	}
	// Decided here, before serving or forwarding: the token does not
	// travel to the member a request is forwarded to.
	if juris != "" && !rt.permit(w, head.Model, mid.Repo, juris) {
		rt.metrics.Request("refused")
		return
	}
	why, canLocal, wait := rt.decide(r.Context(), local, mid, head.Model)
	if why == "" {
		if wait != nil {
			select {
			case <-wait:
			case <-r.Context().Done():
				return
			}
		}
		rt.serveLocal(w, r, local, body, head.Model)
		return
	}
	rt.log.Debug("forwarding", "model", head.Model, "why", why)
	if rt.forwardRequest(w, r, req, mid, why, canLocal) || !canLocal {
		return
	}
	rt.serveLocal(w, r, local, body, head.Model)
}

// tokenMember is what a key bound to juris counts as in residency
// decisions: a node of that jurisdiction, as on the Hugging Face API.
func tokenMember(juris string) *sovereignty.Member {
	return &sovereignty.Member{PeerID: "http-token", Jurisdiction: juris}
}

// tokenDecision is whether a key bound to juris may use repo's models:
// whether the policy lets juris receive the repo, the decision hfapi
// makes for the same token's reads. A refusal is audited.
func (rt *Router) tokenDecision(repo, juris string) sovereignty.Decision {
	m := tokenMember(juris)
	dec := rt.deps.Policy.Decide(sovereignty.Receive, repo, m)
	if !dec.Allow {
		rt.deps.Audit(sovereignty.DenyEntry(sovereignty.Receive, repo, m, dec))
		rt.log.Info("inference refused by policy for the key's jurisdiction", "repo", repo, "jurisdiction", juris, "reason", dec.Reason)
	}
	return dec
}

// mayUse reports whether a key bound to juris ("" for none) may use the
// model id; an id that does not parse is no model it may use.
func (rt *Router) mayUse(id, juris string) bool {
	if juris == "" {
		return true
	}
	mid, err := models.ParseID(id)
	return err == nil && rt.tokenDecision(mid.Repo, juris).Allow
}

// permit reports whether a key bound to juris may use model (of repo),
// answering 403 jurisdiction_refused when it may not.
func (rt *Router) permit(w http.ResponseWriter, model, repo, juris string) bool {
	dec := rt.tokenDecision(repo, juris)
	if dec.Allow {
		return true
	}
	writeError(w, http.StatusForbidden, "invalid_request_error", "jurisdiction_refused", "model", fmt.Sprintf("this API key is bound to jurisdiction %s, and the residency policy does not let %s receive %s, so the key may not use the model %q: %s",
		juris, juris, repo, model, dec.Reason))
	return false
}

func (rt *Router) serveLocal(w http.ResponseWriter, r *http.Request, local Local, body []byte, model string) {
	rt.metrics.Request("local")
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	w.Header().Set(HeaderRoute, "local")
	w.Header().Set(HeaderServedBy, rt.deps.ID.String())
	local.ServeHTTP(w, r2)
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

// writeError answers with an OpenAI error.
func writeError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	openai.WriteError(w, &openai.Error{Status: status, Type: typ, Code: code, Param: param, Message: msg})
}
