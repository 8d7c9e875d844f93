package openai

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/cairnhub/cairn/inference"
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
)

// Config tunes a Server. The zero value is the default.
type Config struct {
	// KeepAlive is how long an idle model stays loaded when a request does
	// not say. Default 0: 5m. Negative: until the server closes.
	KeepAlive time.Duration
	// Queue bounds the requests waiting for one model's turn; more get 503.
	// Default 0: 16.
	Queue int
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

	mu     sync.Mutex
	slots  map[string]*slot // by file path
	closed bool
	done   chan struct{} // closed by Close
	wake   chan struct{} // tells the janitor an expiry changed
}

// slot is one loaded (or loading) model. Fields other than turn are
// guarded by Server.mu, except model, which only the turn holder touches.
type slot struct {
	path    string
	id      string // the id that loaded it
	turn    chan struct{}
	waiting int
	busy    bool
	model   *inference.Model
	info    inference.Info
	loaded  time.Time
	expires time.Time // zero: never
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
		slots: map[string]*slot{}, done: make(chan struct{}), wake: make(chan struct{}, 1),
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
	// Wait is the time spent queued for the model's turn.
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
	res.Wait = time.Since(start)
	keep := s.cfg.KeepAlive
	if g.KeepAlive != nil {
		keep = *g.KeepAlive
	}
	defer func() { s.leave(sl, keep) }()
	if sl.model == nil {
		t := time.Now()
		m, err := inference.OpenConfig(path, s.cfg.Engine)
		if err != nil {
			return res, fmt.Errorf("load model %s: %w", g.Model, err)
		}
		res.Load = time.Since(t)
		sl.model = m
		info := m.Info()
		s.mu.Lock()
		sl.info, sl.loaded = info, time.Now()
		s.mu.Unlock()
		s.log.Info("model loaded", "model", g.Model, "path", path, "arch", info.Arch, "type", info.FileType,
			"params", info.NumParams, "context", info.ContextLength, "seconds", res.Load.Seconds())
		if fb := m.ChatTemplate().Fallback(); fb != "" {
			s.log.Info("model chat template not used", "model", g.Model, "reason", fb, "family", m.ChatTemplate().Family())
		}
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

// enter queues for path's turn, creating its slot when needed.
func (s *Server) enter(ctx context.Context, id, path string) (*slot, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "shutting_down", Message: "the server is shutting down"}
	}
	sl := s.slots[path]
	if sl == nil {
		sl = &slot{path: path, id: id, turn: make(chan struct{}, 1)}
		s.slots[path] = sl
	}
	if sl.busy && sl.waiting >= s.cfg.Queue {
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
		s.mu.Unlock()
		s.poke()
		return nil, ctx.Err()
	case <-s.done:
		s.mu.Lock()
		sl.waiting--
		s.mu.Unlock()
		return nil, &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "shutting_down", Message: "the server is shutting down"}
	}
	s.mu.Lock()
	sl.waiting--
	sl.busy = true
	s.mu.Unlock()
	return sl, nil
}

// leave gives up the turn, setting the slot's expiry; a model nobody
// waits for with keep-alive 0, or that failed to load, goes at once.
func (s *Server) leave(sl *slot, keep time.Duration) {
	s.mu.Lock()
	sl.busy = false
	switch {
	case keep < 0:
		sl.expires = time.Time{}
	default:
		sl.expires = time.Now().Add(keep)
	}
	drop := sl.waiting == 0 && (keep == 0 || sl.model == nil) && s.slots[sl.path] == sl
	if drop {
		delete(s.slots, sl.path)
	}
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
		if sl.busy || sl.waiting > 0 || sl.expires.IsZero() {
			continue
		}
		if !now.Before(sl.expires) {
			delete(s.slots, path)
			gone = append(gone, sl)
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
		sl.turn <- struct{}{} // the running generation, if any, ends first
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
	// Busy is true while a generation runs; Waiting counts queued requests.
	Busy    bool
	Waiting int
	Loaded  time.Time
	// Expires is when it will be unloaded if idle; zero: never.
	Expires time.Time
}

// Loaded lists the models loaded or loading, by id.
func (s *Server) Loaded() []LoadedModel {
	s.mu.Lock()
	out := make([]LoadedModel, 0, len(s.slots))
	for _, sl := range s.slots {
		out = append(out, LoadedModel{ID: sl.id, Path: sl.path, Info: sl.info, Busy: sl.busy, Waiting: sl.waiting, Loaded: sl.loaded, Expires: sl.expires})
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
