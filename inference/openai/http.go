package openai

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/internal/httpauth"
)

func (s *Server) routes() {
	for _, k := range s.cfg.APIKeys {
		s.keys = append(s.keys, httpauth.Key{Token: k})
	}
	s.mux.HandleFunc("GET /v1/models", s.handleModels)
	s.mux.HandleFunc("GET /v1/models/{id...}", s.handleModel)
	s.mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) { s.handleGenerate(w, r, false) })
	s.mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { s.handleGenerate(w, r, true) })
	s.mux.HandleFunc("POST /v1/embeddings", s.handleEmbeddings)
	s.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/models", "/v1/completions", "/v1/chat/completions", "/v1/embeddings":
			WriteError(w, &Error{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: "method_not_allowed",
				Message: fmt.Sprintf("%s %s is not allowed", r.Method, r.URL.Path)})
			return
		}
		WriteError(w, &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_url",
			Message: fmt.Sprintf("unknown URL %s %s", r.Method, r.URL.Path)})
	})
}

// ServeHTTP implements http.Handler.
// A jurisdiction binding of a key is not this server's to apply: the
// node's inference router, in front of it, does.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := s.keys.Check(r); err != nil {
		Unauthorized(w)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Unauthorized answers 401 invalid_api_key with the bearer challenge.
func Unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", httpauth.Challenge)
	WriteError(w, &Error{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key",
		Message: "missing or incorrect API key: send \"Authorization: Bearer KEY\" with a key of http.tokens"})
}

// ModelObject is a model as GET /v1/models lists it.
type ModelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"` // always "model"
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// NewModelObject describes model id; an empty owner is the id's
// organisation (what precedes its first "/").
func NewModelObject(id string, created time.Time, owner string) ModelObject {
	if owner == "" {
		owner, _, _ = strings.Cut(id, "/")
	}
	return ModelObject{ID: id, Object: "model", Created: created.Unix(), OwnedBy: owner}
}

// modelList is what Models lists plus the loaded models it does not name.
func (s *Server) modelList(ctx context.Context) ([]ModelObject, error) {
	entries, err := s.models.List(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []ModelObject{}
	for _, e := range entries {
		seen[e.ID] = true
		out = append(out, NewModelObject(e.ID, e.Created, e.OwnedBy))
	}
	for _, l := range s.Loaded() {
		if !seen[l.ID] {
			seen[l.ID] = true
			out = append(out, NewModelObject(l.ID, l.Loaded, ""))
		}
	}
	return out, nil
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	list, err := s.modelList(r.Context())
	if err != nil {
		s.serverError(w, "list models", err)
		return
	}
	writeJSON(w, map[string]any{"object": "list", "data": list})
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	list, err := s.modelList(r.Context())
	if err != nil {
		s.serverError(w, "list models", err)
		return
	}
	for _, m := range list {
		if m.ID == id {
			writeJSON(w, m)
			return
		}
	}
	WriteError(w, &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Param: "model", Code: "model_not_found",
		Message: fmt.Sprintf("the model %q does not exist", id)})
}

func (s *Server) serverError(w http.ResponseWriter, what string, err error) {
	s.log.Error("openai: "+what, "err", err)
	WriteError(w, &Error{Status: http.StatusInternalServerError, Type: "server_error", Message: fmt.Sprintf("%s: %v", what, err)})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(r inference.Result) *usage {
	return &usage{r.PromptTokens, r.CompletionTokens, r.PromptTokens + r.CompletionTokens}
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// choice serves all four shapes: message (chat), delta (chat chunk), text
// (completions); the unused ones are left out.
type choice struct {
	Index        int          `json:"index"`
	Text         *string      `json:"text,omitempty"`
	Message      *chatMessage `json:"message,omitempty"`
	Delta        *delta       `json:"delta,omitempty"`
	Logprobs     *struct{}    `json:"logprobs"`
	FinishReason *string      `json:"finish_reason"`
}

type response struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage,omitempty"`
}

// chunkWithUsage is a streamed chunk when include_usage is on: every chunk
// carries "usage", null but on the last.
type chunkWithUsage struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage"`
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request, isChat bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			WriteError(w, &Error{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
				Message: fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes)})
		}
		return
	}
	p, apiErr := parseRequest(body, isChat)
	if apiErr != nil {
		WriteError(w, apiErr)
		return
	}
	object, idPrefix := "text_completion", "cmpl-"
	if isChat {
		object, idPrefix = "chat.completion", "chatcmpl-"
	}
	base := response{ID: newID(idPrefix), Object: object, Created: time.Now().Unix(), Model: p.gen.Model}
	if p.stream {
		s.stream(w, r, p, base, isChat)
		return
	}
	res, err := s.Generate(r.Context(), p.gen, nil)
	if err != nil {
		s.fail(w, r, p.gen.Model, err)
		return
	}
	finish := res.FinishReason
	c := choice{FinishReason: &finish}
	if isChat {
		c.Message = &chatMessage{Role: "assistant", Content: res.Text}
	} else {
		text := res.Text
		if p.echo {
			text = p.gen.Request.Prompt + text
		}
		c.Text = &text
	}
	base.Choices = []choice{c}
	base.Usage = usageOf(res.Result)
	writeJSON(w, base)
}

// fail answers a failed generation, unless the client has gone.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, model string, err error) {
	if r.Context().Err() != nil {
		s.log.Debug("openai: client went away", "model", model, "err", err)
		return
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		WriteError(w, apiErr)
		return
	}
	s.serverError(w, "generate with "+model, err)
}

// sse writes server-sent events; headers go out with the first event, so
// that errors before any token still get a plain status code.
type sse struct {
	w       http.ResponseWriter
	started bool
}

func (e *sse) start() {
	if e.started {
		return
	}
	e.started = true
	h := e.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	e.w.WriteHeader(http.StatusOK)
}

func (e *sse) send(v any) error {
	e.start()
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return e.raw(b)
}

func (e *sse) raw(b []byte) error {
	e.start()
	buf := make([]byte, 0, len(b)+8)
	buf = append(buf, "data: "...)
	buf = append(buf, b...)
	buf = append(buf, "\n\n"...)
	if _, err := e.w.Write(buf); err != nil {
		return err
	}
	return http.NewResponseController(e.w).Flush()
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, p *parsed, base response, isChat bool) {
	if isChat {
		base.Object = "chat.completion.chunk"
	}
	ev := &sse{w: w}
	chunk := func(c choice) any {
		base.Choices = []choice{c}
		if p.includeUsage {
			return chunkWithUsage(base)
		}
		return base
	}
	text := func(t string) choice {
		if isChat {
			return choice{Delta: &delta{Content: &t}}
		}
		return choice{Text: &t}
	}
	opened := false
	open := func() error { // the first chunk: role (chat) or echoed prompt
		if opened {
			return nil
		}
		opened = true
		if isChat {
			empty := ""
			return ev.send(chunk(choice{Delta: &delta{Role: "assistant", Content: &empty}}))
		}
		if p.echo && p.gen.Request.Prompt != "" {
			return ev.send(chunk(text(p.gen.Request.Prompt)))
		}
		return nil
	}
	res, err := s.Generate(r.Context(), p.gen, func(piece string) error {
		if err := open(); err != nil {
			return err
		}
		return ev.send(chunk(text(piece)))
	})
	if err != nil {
		if !ev.started {
			s.fail(w, r, p.gen.Model, err)
			return
		}
		if r.Context().Err() == nil {
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				s.log.Error("openai: generate", "model", p.gen.Model, "err", err)
				apiErr = &Error{Status: http.StatusInternalServerError, Type: "server_error", Message: err.Error()}
			}
			ev.send(apiErr)
		}
		return
	}
	if open() != nil {
		return
	}
	finish := res.FinishReason
	last := text("")
	if isChat {
		last = choice{Delta: &delta{}}
	}
	last.FinishReason = &finish
	if ev.send(chunk(last)) != nil {
		return
	}
	if p.includeUsage {
		u := base
		u.Choices = []choice{}
		if ev.send(chunkWithUsage{u.ID, u.Object, u.Created, u.Model, u.Choices, usageOf(res.Result)}) != nil {
			return
		}
	}
	ev.raw([]byte("[DONE]"))
}
