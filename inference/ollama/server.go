package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cairnhub/cairn/inference/openai"
)

// Backend runs generations; the node's inference router and
// *openai.Server satisfy it.
type Backend interface {
	Generate(ctx context.Context, g openai.Generation, emit func(string) error) (openai.Result, error)
}

// Models lists and locates the models this node may serve (openai.Models).
type Models = openai.Models

// Running reports the models loaded here; *openai.Server satisfies it.
// Nil: /api/ps lists none.
type Running interface {
	Loaded() []openai.LoadedModel
}

// Puller makes a model present on this node, reporting bytes done of
// total as it goes. Nil: /api/pull answers 501.
type Puller interface {
	Pull(ctx context.Context, id string, progress func(done, total int64)) error
}

// Version is the Ollama API level served at /api/version: clients check it
// to know which endpoints and fields exist.
const Version = "0.6.4"

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = openai.MaxBodyBytes

// Config is what a Server serves from. Backend and Models are required.
type Config struct {
	Backend Backend
	Models  Models
	Running Running
	Puller  Puller
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Validate reports a Config that cannot serve.
func (c Config) Validate() error {
	if c.Backend == nil || c.Models == nil {
		return errors.New("ollama: Backend and Models are required")
	}
	return nil
}

// Server is the Ollama API as an http.Handler.
type Server struct {
	cfg Config
	mux *http.ServeMux
	log *slog.Logger
}

// New returns the Ollama API over cfg.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.mux.HandleFunc("GET /api/version", s.handleVersion)
	s.mux.HandleFunc("GET /api/tags", s.handleTags)
	s.mux.HandleFunc("GET /api/ps", s.handlePs)
	s.mux.HandleFunc("POST /api/show", s.handleShow)
	s.mux.HandleFunc("POST /api/generate", s.handleGenerate)
	s.mux.HandleFunc("POST /api/chat", s.handleChat)
	s.mux.HandleFunc("POST /api/pull", s.handlePull)
	s.mux.HandleFunc("POST /api/embed", s.handleEmbed)
	s.mux.HandleFunc("POST /api/embeddings", s.handleEmbed)
	return s, nil
}

// Patterns are the routes a caller mounts the Server on.
var Patterns = []string{
	"GET /api/version", "GET /api/tags", "GET /api/ps", "POST /api/show", "POST /api/generate",
	"POST /api/chat", "POST /api/pull", "POST /api/embed", "POST /api/embeddings",
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// apiError is an error with the status Ollama answers it with.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, a ...any) *apiError {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

// writeError answers with Ollama's error shape: {"error": "…"}.
func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var ae *apiError
	var oe *openai.Error
	switch {
	case errors.As(err, &ae):
		status = ae.status
	case errors.As(err, &oe):
		status = oe.Status
		if oe.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(oe.RetryAfter.Seconds()+0.5)))
		}
	case errors.Is(err, openai.ErrModelNotFound):
		status = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

// decode reads a JSON request body strictly enough to name what is wrong.
// Any Content-Type is taken, as Ollama does (curl -d sends a form type):
// cross-origin pages are kept out by the node's origin check, not here.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badRequest("invalid type for %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return badRequest("invalid JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("invalid JSON body: data after the object")
	}
	return nil
}

func (s *Server) handleVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]string{"version": Version})
}

// notFound is Ollama's answer for a model it does not have.
func notFound(name string, err error) error {
	return &apiError{http.StatusNotFound, fmt.Sprintf("model %q not found, try pulling it first (%v)", name, err)}
}

func (s *Server) locate(ctx context.Context, name string) (id, path string, err error) {
	id, err = ToID(name)
	if err != nil {
		return "", "", err
	}
	path, err = s.cfg.Models.Locate(ctx, id)
	if errors.Is(err, openai.ErrModelNotFound) {
		return "", "", notFound(name, err)
	}
	return id, path, err
}

// nanos is a duration as Ollama's counters give it.
func nanos(d time.Duration) int64 { return d.Nanoseconds() }
