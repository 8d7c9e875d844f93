package openai

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/internal/httpauth"
)

// Models finds the GGUF files the server may load. The node's
// implementation looks in its store and pulls from peers.
type Models interface {
	// List returns the models that can be served.
	List(ctx context.Context) ([]ModelEntry, error)
	// Locate returns the path of the GGUF file that id names, an error
	// wrapping ErrModelNotFound when it names none.
	Locate(ctx context.Context, id string) (path string, err error)
}

// ModelEntry is one model of GET /v1/models.
type ModelEntry struct {
	ID      string
	Created time.Time
	OwnedBy string
}

// Defaults of Config.
const (
	DefaultKeepAlive = 5 * time.Minute
	DefaultQueue     = 16
	DefaultMaxLoaded = 3
)

// Config tunes a Server. The zero value is the default.
type Config struct {
	// KeepAlive is how long an idle model stays loaded when a request does
	// not say. Default 0: 5m. Negative: until the server closes.
	KeepAlive time.Duration
	// Queue bounds the requests waiting for a place in one model's batch
	// (all Engine.Parallel places taken); more get 503. Default 0: 16.
	Queue int
	// MaxLoaded caps the models loaded (or loading) at once. A request for
	// another model unloads the least recently used model that has no
	// request running or queued; while every loaded model is busy it waits
	// in its model's queue (a client that goes away stops waiting) until
	// one is idle. Default 0: 3 (DefaultMaxLoaded). Negative is refused.
	MaxLoaded int
	// MaxMemory caps the bytes the loaded models take: the weights plus a
	// KV cache per place in the batch (inference.Info's WeightBytes +
	// Parallel × KVCacheBytes), evicting
	// as MaxLoaded does. Before a model's first load its size is estimated
	// from its file and GGUF header. A model larger than MaxMemory on its own
	// is refused (503, model_too_large). Default 0: no memory cap. Negative
	// is refused.
	MaxMemory int64
	// Engine is how models are loaded. Default: the engine's defaults.
	Engine inference.Config
	// APIKeys, when not empty, are the bearer tokens a request must carry
	// ("Authorization: Bearer KEY", the client's api key); others get 401.
	// Default none: open to whoever reaches the server.
	APIKeys []string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Validate reports values out of range.
func (c Config) Validate() error {
	if c.Queue < 0 {
		return fmt.Errorf("openai config: queue %d is negative", c.Queue)
	}
	if c.MaxLoaded < 0 {
		return fmt.Errorf("openai config: max_loaded %d is negative", c.MaxLoaded)
	}
	if c.MaxMemory < 0 {
		return fmt.Errorf("openai config: max_memory %d is negative", c.MaxMemory)
	}
	for i, k := range c.APIKeys {
		if k == "" {
			return fmt.Errorf("openai config: api key %d is empty", i)
		}
	}
	return c.Engine.Validate()
}

func (c Config) withDefaults() Config {
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.Queue == 0 {
		c.Queue = DefaultQueue
	}
	if c.MaxLoaded == 0 {
		c.MaxLoaded = DefaultMaxLoaded
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server is the OpenAI-compatible HTTP API over the models Models finds. It
// is an http.Handler for the paths under /v1/.
type Server struct {
	models Models
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	keys   httpauth.Keys // cfg.APIKeys

	mu      sync.Mutex
	slots   map[string]*slot // by file path
	pending []*slot          // waiting for room to load, first come first
	room    chan struct{}    // closed (and replaced) when room may have freed
	sizes   map[string]int64 // bytes each path took when last loaded
	tick    uint64           // counts leaves, for least-recently-used order
	closed  bool
	done    chan struct{} // closed by Close
	wake    chan struct{} // tells the janitor an expiry changed
}

// slot is one model: loaded, loading, or waiting for room. Fields but turn
// and load are guarded by Server.mu; model is written under it by the
// holder of load, and read by the holders of a place after they held load.
type slot struct {
	path string
	id   string // the id that loaded it
	// turn holds a token per request in the model's batch: at most
	// places (Engine.Parallel) at once.
	turn    chan struct{}
	load    chan struct{} // held while admitting and loading the model
	waiting int
	running int // requests holding a place
	// admitted: the slot counts against MaxLoaded and MaxMemory (its
	// model is loading or loaded). A slot whose turn holder waits for room
	// is not admitted.
	admitted bool
	bytes    int64  // memory counted: estimated until loaded
	used     uint64 // Server.tick when last left
	model    *inference.Model
	info     inference.Info
	loaded   time.Time
	expires  time.Time // zero: never
}

// NewServer returns a server over models. Call Run to unload idle models
// and Close to release them.
func NewServer(models Models, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		models: models, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		slots: map[string]*slot{}, room: make(chan struct{}), sizes: map[string]int64{},
		done: make(chan struct{}), wake: make(chan struct{}, 1),
	}
	s.routes()
	return s, nil
}

// Result reports a finished generation.
type Result struct {
	inference.Result
	// Locate is the time spent finding the model file: pulling it from
	// peers and writing it out of the store when the node lacked it.
	Locate time.Duration
	// Load is the time spent loading the model (0 when it was loaded).
	Load time.Duration
	// Wait is the time spent queued for the model's turn, and for room to
	// load it (Config.MaxLoaded, MaxMemory).
	Wait time.Duration
}

// Generate runs g on its model: located, queued for the model's turn,
// loaded when needed. emit receives each piece of generated text. Errors
// of the request's making are *Error.
func (s *Server) Generate(ctx context.Context, g Generation, emit func(string) error) (Result, error) {
	var res Result
	t0 := time.Now()
	path, err := s.models.Locate(ctx, g.Model)
	res.Locate = time.Since(t0)
	if err != nil {
		if errors.Is(err, ErrModelNotFound) {
			return res, &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Param: "model", Code: "model_not_found",
				Message: fmt.Sprintf("the model %q does not exist: %v", g.Model, err)}
		}
		return res, err
	}
	start := time.Now()
	sl, err := s.enter(ctx, g.Model, path)
	if err != nil {
		return res, err
	}
	keep := s.cfg.KeepAlive
	if g.KeepAlive != nil {
		keep = *g.KeepAlive
	}
	defer func() { s.leave(sl, keep) }()
	err = s.ensureLoaded(ctx, sl, g.Model, &res)
	if res.Wait = time.Since(start) - res.Load; err != nil {
		return res, err
	}
	if sl.model.IsEmbedding() {
		return res, invalid("model", "model_not_generative", "the model %q is an embedding model (%s): it makes embeddings on /v1/embeddings and does not generate text", g.Model, sl.info.Arch)
	}
	req := g.Request
	if g.Messages != nil {
		prompt, err := sl.model.ChatTemplate().Render(g.Messages, true)
		if err != nil {
			return res, invalid("messages", "invalid_value", "chat template: %v", err)
		}
		req.Prompt, req.Tokens = prompt, nil
	}
	if req.Tokens == nil && len(sl.model.PromptTokens(req)) == 0 {
		return res, invalid("prompt", "invalid_value", "the prompt is empty")
	}
	for _, id := range req.Tokens {
		if id < 0 || int(id) >= sl.info.VocabSize {
			return res, invalid("prompt", "invalid_value", "prompt token %d is outside the vocabulary of %d", id, sl.info.VocabSize)
		}
	}
	res.Result, err = sl.model.Generate(ctx, req, emit)
	s.log.Debug("generation", "model", g.Model, "prompt_tokens", res.PromptTokens, "cached_tokens", res.CachedTokens,
		"completion_tokens", res.CompletionTokens, "finish", res.FinishReason, "locate_s", res.Locate.Seconds(),
		"wait_s", res.Wait.Seconds(), "load_s", res.Load.Seconds(), "prefill_tok_s", res.PrefillTokensPerS,
		"decode_tok_s", res.DecodeTokensPerS, "err", err)
	if err != nil && errors.Is(err, inference.ErrContextLength) {
		param := "prompt"
		if g.Messages != nil {
			param = "messages"
		}
		return res, invalid(param, "context_length_exceeded", "%v", err)
	}
	return res, err
}

// ensureLoaded loads sl's model unless it is: one holder of a place
// admits and loads it while the others wait for it.
func (s *Server) ensureLoaded(ctx context.Context, sl *slot, id string, res *Result) error {
	select {
	case sl.load <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return errShuttingDown()
	}
	defer func() { <-sl.load }()
	if sl.model != nil {
		return nil
	}
	if err := s.admit(ctx, sl, id); err != nil {
		return err
	}
	t := time.Now()
	m, err := inference.OpenConfig(sl.path, s.cfg.Engine)
	if err != nil {
		return fmt.Errorf("load model %s: %w", id, err)
	}
	res.Load = time.Since(t)
	info := m.Info()
	s.mu.Lock()
	sl.model, sl.info, sl.loaded = m, info, time.Now()
	sl.bytes = modelBytes(info.WeightBytes, info.KVCacheBytes, info.Parallel)
	s.sizes[sl.path] = sl.bytes
	victims := s.shrinkLocked(sl)
	n, total := s.residentLocked()
	s.signalLocked() // the estimate may have been above the real size
	s.mu.Unlock()
	s.log.Info("model loaded", "model", id, "path", sl.path, "arch", info.Arch, "type", info.FileType,
		"params", info.NumParams, "context", info.ContextLength, "parallel", info.Parallel, "bytes", sl.bytes,
		"seconds", res.Load.Seconds(), "loaded", n, "loaded_bytes", total)
	if s.cfg.MaxMemory > 0 && sl.bytes > s.cfg.MaxMemory {
		s.log.Warn("model larger than max_memory", "model", id, "bytes", sl.bytes, "max_memory", s.cfg.MaxMemory)
	}
	s.evict(victims, "max_memory", id)
	if fb := m.ChatTemplate().Fallback(); fb != "" && !m.IsEmbedding() {
		s.log.Info("model chat template not used", "model", id, "reason", fb, "family", m.ChatTemplate().Family())
	}
	return nil
}

// modelBytes is the memory a model takes: its weights and a KV cache per
// place in its batch.
func modelBytes(weights, kv int64, parallel int) int64 {
	return weights + int64(parallel)*kv
}

// places is how many requests share one model's batch (Engine.Parallel).
func (s *Server) places() int { return s.cfg.Engine.Sequences() }

// enter queues for a place in path's batch, creating its slot when needed.
func (s *Server) enter(ctx context.Context, id, path string) (*slot, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errShuttingDown()
	}
	sl := s.slots[path]
	if sl == nil {
		sl = &slot{path: path, id: id, turn: make(chan struct{}, s.places()), load: make(chan struct{}, 1)}
		s.slots[path] = sl
	}
	if sl.running >= s.places() && sl.waiting >= s.cfg.Queue {
		n := sl.waiting
		s.mu.Unlock()
		return nil, &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "queue_full", RetryAfter: time.Second,
			Message: fmt.Sprintf("model %q is busy with %d requests waiting (the queue holds %d); retry later", id, n, s.cfg.Queue)}
	}
	sl.waiting++
	s.mu.Unlock()
	select {
	case sl.turn <- struct{}{}:
	case <-ctx.Done():
		s.mu.Lock()
		sl.waiting--
		s.signalLocked() // the slot may have become idle: evictable
		s.mu.Unlock()
		s.poke()
		return nil, ctx.Err()
	case <-s.done:
		s.mu.Lock()
		sl.waiting--
		s.mu.Unlock()
		return nil, errShuttingDown()
	}
	s.mu.Lock()
	sl.waiting--
	sl.running++
	s.mu.Unlock()
	return sl, nil
}

// admit waits, holding sl's turn, until sl may load: fewer than MaxLoaded
// models loaded and, with MaxMemory, room for its estimated size, unloading
// the least recently used idle models (no request running or queued) to
// make room. Requests needing room are admitted first come first.
func (s *Server) admit(ctx context.Context, sl *slot, id string) error {
	var est int64
	if s.cfg.MaxMemory > 0 {
		est = s.estimate(sl.path)
		if est > s.cfg.MaxMemory {
			return &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "model_too_large",
				Message: fmt.Sprintf("model %q needs about %d bytes (weights and KV cache), more than the server's max memory of %d", id, est, s.cfg.MaxMemory)}
		}
	}
	s.mu.Lock()
	if sl.admitted {
		s.mu.Unlock()
		return nil
	}
	sl.bytes = est
	s.pending = append(s.pending, sl)
	logged := false
	for {
		if s.closed {
			s.unpendLocked(sl)
			s.mu.Unlock()
			return errShuttingDown()
		}
		if s.pending[0] == sl {
			if victims, reason, ok := s.roomLocked(sl); ok {
				for _, v := range victims {
					delete(s.slots, v.path)
				}
				sl.admitted = true
				s.unpendLocked(sl)
				s.mu.Unlock()
				s.evict(victims, reason, id)
				return nil
			}
		}
		if !logged {
			logged = true
			n, total := s.residentLocked()
			s.log.Info("model waiting for room", "model", id, "loaded", n, "max_loaded", s.cfg.MaxLoaded,
				"loaded_bytes", total, "bytes", est, "max_memory", s.cfg.MaxMemory, "ahead", slices.Index(s.pending, sl))
		}
		room := s.room
		s.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			s.mu.Lock()
			s.unpendLocked(sl)
			s.mu.Unlock()
			return ctx.Err()
		case <-s.done:
		}
		s.mu.Lock()
	}
}

// unpendLocked takes sl out of the queue for room and lets the next look.
func (s *Server) unpendLocked(sl *slot) {
	if i := slices.Index(s.pending, sl); i >= 0 {
		s.pending = slices.Delete(s.pending, i, i+1)
		s.signalLocked()
	}
}

// roomLocked returns the slots to unload so that sl fits, least recently
// used first, and why; ok is false when unloading every idle slot would
// not be enough (then none is chosen).
func (s *Server) roomLocked(sl *slot) (victims []*slot, reason string, ok bool) {
	n, total := s.residentLocked()
	var idle []*slot
	for _, o := range s.slots {
		if o != sl && o.admitted && o.running == 0 && o.waiting == 0 {
			idle = append(idle, o)
		}
	}
	slices.SortFunc(idle, func(a, b *slot) int { return cmpUint(a.used, b.used) })
	for {
		tooMany := n >= s.cfg.MaxLoaded
		tooBig := s.cfg.MaxMemory > 0 && n > 0 && total+sl.bytes > s.cfg.MaxMemory
		if !tooMany && !tooBig {
			return victims, reason, true
		}
		if len(idle) == 0 {
			return nil, "", false
		}
		if reason == "" {
			reason = "max_loaded"
			if !tooMany {
				reason = "max_memory"
			}
		}
		v := idle[0]
		idle = idle[1:]
		victims = append(victims, v)
		n--
		total -= v.bytes
	}
}

// shrinkLocked removes from the map, least recently used first, the idle
// slots to unload so that the loaded models fit MaxMemory now that sl's
// real size is known (it was estimated).
func (s *Server) shrinkLocked(sl *slot) []*slot {
	if s.cfg.MaxMemory <= 0 {
		return nil
	}
	_, total := s.residentLocked()
	var idle []*slot
	for _, o := range s.slots {
		if o != sl && o.admitted && o.running == 0 && o.waiting == 0 {
			idle = append(idle, o)
		}
	}
	slices.SortFunc(idle, func(a, b *slot) int { return cmpUint(a.used, b.used) })
	var victims []*slot
	for total > s.cfg.MaxMemory && len(idle) > 0 {
		v := idle[0]
		idle = idle[1:]
		delete(s.slots, v.path)
		victims = append(victims, v)
		total -= v.bytes
	}
	return victims
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// residentLocked counts the admitted slots and their bytes.
func (s *Server) residentLocked() (n int, bytes int64) {
	for _, sl := range s.slots {
		if sl.admitted {
			n++
			bytes += sl.bytes
		}
	}
	return n, bytes
}

// signalLocked wakes the requests waiting for room.
func (s *Server) signalLocked() {
	close(s.room)
	s.room = make(chan struct{})
}

// evict unloads victims, already out of the map, to make room for model.
func (s *Server) evict(victims []*slot, reason, model string) {
	for _, v := range victims {
		v.model.Close()
		s.log.Info("model unloaded", "model", v.id, "reason", reason, "for", model, "bytes", v.bytes, "max_loaded", s.cfg.MaxLoaded, "max_memory", s.cfg.MaxMemory)
	}
}

// estimate is the memory path will take loaded: what it took last time,
// else estimateBytes.
func (s *Server) estimate(path string) int64 {
	s.mu.Lock()
	b, ok := s.sizes[path]
	s.mu.Unlock()
	if ok {
		return b
	}
	return estimateBytes(path, s.cfg.Engine)
}

// estimateBytes is the memory the GGUF file at path will take loaded with
// cfg, read from its header: the file (weights and a little metadata) plus
// a KV cache per place in the batch, as inference.Info reports them once
// loaded. It is the file's size alone when the header cannot be read (the
// load will fail).
func estimateBytes(path string, cfg inference.Config) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	f, err := gguf.Open(path) // mapped where possible: only the header is read
	if err != nil {
		return st.Size()
	}
	defer f.Close()
	kv, err := inference.KVCacheBytes(f, cfg)
	if err != nil {
		return st.Size()
	}
	return modelBytes(st.Size(), kv, cfg.Sequences())
}

func errShuttingDown() *Error {
	return &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "shutting_down", Message: "the server is shutting down"}
}

// leave gives up the place, setting the slot's expiry; a model nobody
// uses or waits for with keep-alive 0, or that failed to load, goes at once.
func (s *Server) leave(sl *slot, keep time.Duration) {
	s.mu.Lock()
	sl.running--
	s.tick++
	sl.used = s.tick
	if sl.model == nil && sl.running == 0 { // not loaded: holds no room
		sl.admitted, sl.bytes = false, 0
	}
	switch {
	case keep < 0:
		sl.expires = time.Time{}
	default:
		sl.expires = time.Now().Add(keep)
	}
	drop := sl.running == 0 && sl.waiting == 0 && (keep == 0 || sl.model == nil) && s.slots[sl.path] == sl
	if drop {
		delete(s.slots, sl.path)
	}
	s.signalLocked()
	s.mu.Unlock()
	if drop && sl.model != nil {
		sl.model.Close()
		s.log.Info("model unloaded", "model", sl.id, "reason", "keep_alive 0")
	}
	<-sl.turn
	s.poke()
}

func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run unloads models whose keep-alive has run out until ctx ends, then
// closes the server.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next := s.expire(time.Now())
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			s.Close()
			return nil
		case <-s.done:
			return nil
		case <-s.wake:
		case <-t.C:
		}
	}
}

// expire unloads the idle slots expired at now and returns the next expiry.
func (s *Server) expire(now time.Time) time.Time {
	var gone []*slot
	var next time.Time
	s.mu.Lock()
	for path, sl := range s.slots {
		if sl.running > 0 || sl.waiting > 0 || sl.expires.IsZero() {
			continue
		}
		if !now.Before(sl.expires) {
			delete(s.slots, path)
			gone = append(gone, sl)
			s.signalLocked()
			continue
		}
		if next.IsZero() || sl.expires.Before(next) {
			next = sl.expires
		}
	}
	s.mu.Unlock()
	for _, sl := range gone {
		if sl.model != nil {
			sl.model.Close()
			s.log.Info("model unloaded", "model", sl.id, "reason", "keep_alive expired")
		}
	}
	return next
}

// Close refuses new requests, waits for running generations to end and
// unloads every model.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	slots := make([]*slot, 0, len(s.slots))
	for _, sl := range s.slots {
		slots = append(slots, sl)
	}
	clear(s.slots)
	s.mu.Unlock()
	for _, sl := range slots {
		for range cap(sl.turn) {
			sl.turn <- struct{}{} // the running generations, if any, end first
		}
		if sl.model != nil {
			sl.model.Close()
		}
	}
	return nil
}

// LoadedModel describes a loaded model.
type LoadedModel struct {
	ID   string
	Path string
	Info inference.Info
	// Busy is true while a generation runs; Running counts them (at most
	// Info.Parallel, the places in the model's batch) and Waiting counts
	// the requests queued for a place.
	Busy             bool
	Running, Waiting int
	// Pending is true while the model's first request waits for room to
	// load it (Config.MaxLoaded, MaxMemory): it is not loaded yet.
	Pending bool
	// Bytes is the memory counted against Config.MaxMemory: weights plus a
	// KV cache per place (WeightBytes + Parallel × KVCacheBytes), estimated
	// until loaded (computed only with a MaxMemory while not loaded).
	Bytes  int64
	Loaded time.Time
	// Expires is when it will be unloaded if idle; zero: never.
	Expires time.Time
}

// Occupancy is how full the server is.
type Occupancy struct {
	// Models are loaded or loading, at most MaxModels (Config.MaxLoaded).
	Models, MaxModels int
	// Bytes is their memory (LoadedModel.Bytes); MaxBytes is
	// Config.MaxMemory, 0: no cap.
	Bytes, MaxBytes int64
	// Pending counts the models waiting for room to load.
	Pending int
}

// Occupancy reports the models loaded against the caps.
func (s *Server) Occupancy() Occupancy {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, b := s.residentLocked()
	return Occupancy{Models: n, MaxModels: s.cfg.MaxLoaded, Bytes: b, MaxBytes: s.cfg.MaxMemory, Pending: len(s.pending)}
}

// Loaded lists the models loaded or loading, by id.
func (s *Server) Loaded() []LoadedModel {
	s.mu.Lock()
	out := make([]LoadedModel, 0, len(s.slots))
	for _, sl := range s.slots {
		out = append(out, LoadedModel{ID: sl.id, Path: sl.path, Info: sl.info, Busy: sl.running > 0, Running: sl.running, Waiting: sl.waiting,
			Pending: !sl.admitted, Bytes: sl.bytes, Loaded: sl.loaded, Expires: sl.expires})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b LoadedModel) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}
