package ollama

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/cairnhub/cairn/inference/chat"
	"github.com/cairnhub/cairn/inference/openai"
)

// common are the fields /api/generate and /api/chat share.
type common struct {
	Model     string          `json:"model"`
	Stream    *bool           `json:"stream"`
	Options   Options         `json:"options"`
	KeepAlive json.RawMessage `json:"keep_alive"`
	Format    json.RawMessage `json:"format"`
	Tools     json.RawMessage `json:"tools"`
}

type generateRequest struct {
	common
	Prompt  string          `json:"prompt"`
	System  string          `json:"system"`
	Raw     bool            `json:"raw"`
	Suffix  string          `json:"suffix"`
	Images  json.RawMessage `json:"images"`
	Context json.RawMessage `json:"context"`
}

type message struct {
	Role    string          `json:"role"`
	Content string          `json:"content"`
	Images  json.RawMessage `json:"images,omitempty"`
}

type chatRequest struct {
	common
	Messages []message `json:"messages"`
}

// generation builds the Generation both endpoints share; the caller sets
// the prompt or the messages.
func (c *common) generation() (openai.Generation, bool, error) {
	var g openai.Generation
	if !isNull(c.Format) {
		return g, false, badRequest("format: JSON mode and schemas are not supported")
	}
	if !isNull(c.Tools) && string(c.Tools) != "[]" {
		return g, false, badRequest("tools are not supported")
	}
	id, err := ToID(c.Model)
	if err != nil {
		return g, false, err
	}
	g.Model = id
	if err := c.Options.request(&g.Request); err != nil {
		return g, false, err
	}
	if g.KeepAlive, err = keepAlive(c.KeepAlive); err != nil {
		return g, false, err
	}
	return g, c.Stream == nil || *c.Stream, nil
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request) {
	var req generateRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	g, stream, err := req.generation()
	if err == nil {
		err = req.check()
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if req.Prompt == "" { // Ollama: an empty prompt only loads the model
		s.load(w, r, req.Model)
		return
	}
	if req.Raw {
		g.Request.Prompt = req.Prompt
	} else {
		if req.System != "" {
			g.Messages = append(g.Messages, chat.Message{Role: "system", Content: req.System})
		}
		g.Messages = append(g.Messages, chat.Message{Role: "user", Content: req.Prompt})
	}
	s.run(w, r, req.Model, g, stream, false)
}

func (r *generateRequest) check() error {
	switch {
	case !isNull(r.Images) && string(r.Images) != "[]":
		return badRequest("images are not supported: no model here takes images")
	case r.Suffix != "":
		return badRequest("suffix (fill-in-the-middle) is not supported")
	case !isNull(r.Context) && string(r.Context) != "[]":
		return badRequest("context (token ids of an earlier answer) is not supported: send the conversation to /api/chat")
	}
	return nil
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	g, stream, err := req.generation()
	if err != nil {
		writeError(w, err)
		return
	}
	if len(req.Messages) == 0 { // Ollama: no messages only loads the model
		s.load(w, r, req.Model)
		return
	}
	if len(req.Messages) > openai.MaxMessages {
		writeError(w, badRequest("messages: at most %d", openai.MaxMessages))
		return
	}
	for i, m := range req.Messages {
		if m.Role == "" {
			writeError(w, badRequest("messages[%d]: role is required", i))
			return
		}
		if !isNull(m.Images) && string(m.Images) != "[]" {
			writeError(w, badRequest("messages[%d]: images are not supported", i))
			return
		}
		g.Messages = append(g.Messages, chat.Message{Role: m.Role, Content: m.Content})
	}
	s.run(w, r, req.Model, g, stream, true)
}

// load answers a request with nothing to generate: the model is found (and
// so made present) and reported loaded.
func (s *Server) load(w http.ResponseWriter, r *http.Request, name string) {
	if _, _, err := s.locate(r.Context(), name); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, map[string]any{"model": name, "created_at": time.Now().UTC(), "response": "", "done": true, "done_reason": "load"})
}

// reply is one NDJSON object of /api/generate (Response) or /api/chat
// (Message), with the counters on the last.
type reply struct {
	Model     string    `json:"model"`
	CreatedAt time.Time `json:"created_at"`
	Response  *string   `json:"response,omitempty"`
	Message   *message  `json:"message,omitempty"`
	Done      bool      `json:"done"`
	counters
}

type counters struct {
	DoneReason         string `json:"done_reason,omitempty"`
	TotalDuration      int64  `json:"total_duration,omitempty"`
	LoadDuration       int64  `json:"load_duration,omitempty"`
	PromptEvalCount    int    `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64  `json:"prompt_eval_duration,omitempty"`
	EvalCount          int    `json:"eval_count,omitempty"`
	EvalDuration       int64  `json:"eval_duration,omitempty"`
}

func (s *Server) piece(name, text string, isChat bool) reply {
	r := reply{Model: name, CreatedAt: time.Now().UTC()}
	if isChat {
		r.Message = &message{Role: "assistant", Content: text}
	} else {
		r.Response = &text
	}
	return r
}

// run generates g and answers as a stream of pieces or as one object.
func (s *Server) run(w http.ResponseWriter, r *http.Request, name string, g openai.Generation, stream, isChat bool) {
	t0 := time.Now()
	var nd *ndjson
	emit := func(piece string) error {
		if !stream {
			return nil
		}
		if nd == nil {
			nd = startNDJSON(w)
		}
		return nd.send(s.piece(name, piece, isChat))
	}
	res, err := s.cfg.Backend.Generate(r.Context(), g, emit)
	if err != nil {
		if errors.Is(err, openai.ErrModelNotFound) {
			err = notFound(name, err)
		}
		s.log.Debug("ollama generation failed", "model", idOrErr(name), "err", err)
		if nd != nil {
			nd.send(map[string]string{"error": err.Error()})
			return
		}
		writeError(w, err)
		return
	}
	whole := res.Text
	if stream {
		whole = "" // the pieces carried it
	}
	last := s.piece(name, whole, isChat)
	last.Done = true
	last.counters = counters{
		DoneReason: res.FinishReason, TotalDuration: nanos(time.Since(t0)), LoadDuration: nanos(res.Load + res.Locate),
		PromptEvalCount: res.PromptTokens, PromptEvalDuration: nanos(res.PrefillDuration),
		EvalCount: res.CompletionTokens, EvalDuration: nanos(res.DecodeDuration),
	}
	if nd == nil && stream {
		nd = startNDJSON(w)
	}
	if nd != nil {
		nd.send(last)
		return
	}
	writeJSON(w, last)
}

// ndjson writes one JSON object per line, flushed as it goes.
type ndjson struct {
	w   http.ResponseWriter
	enc *json.Encoder
}

func startNDJSON(w http.ResponseWriter) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	return &ndjson{w: w, enc: json.NewEncoder(w)}
}

func (n *ndjson) send(v any) error {
	if err := n.enc.Encode(v); err != nil {
		return err
	}
	if f, ok := n.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}
