package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/p2p/infer"
)

// HandlerBackend is a Backend that runs each generation as a streamed
// OpenAI request on H (the node's inference router), with the caller's
// Authorization header (see WithCaller), so keys, audit, metrics and
// forwarding to members are those of /v1.
type HandlerBackend struct{ H http.Handler }

// openaiBody is a Generation as an OpenAI request. Ollama's repeat_last_n
// has no OpenAI field; the engine's default window (64, Ollama's too)
// applies.
func openaiBody(g openai.Generation) (path string, body []byte, err error) {
	p := g.Request.Params
	b := map[string]any{
		"model": g.Model, "stream": true, "stream_options": map[string]bool{"include_usage": true},
		"temperature": p.Temperature, "top_k": p.TopK, "top_p": p.TopP, "min_p": p.MinP,
		"repeat_penalty": p.RepeatPenalty, "frequency_penalty": p.FrequencyPenalty, "presence_penalty": p.PresencePenalty,
		"seed": int64(p.Seed), "ignore_eos": g.Request.IgnoreEOS,
	}
	if g.Request.MaxTokens > 0 {
		b["max_tokens"] = g.Request.MaxTokens
	}
	if len(g.Request.Stop) > 0 {
		b["stop"] = g.Request.Stop
	}
	if g.KeepAlive != nil {
		b["keep_alive"] = g.KeepAlive.Seconds()
	}
	path = infer.PathCompletions
	switch {
	case g.Messages != nil:
		path = infer.PathChat
		b["messages"] = g.Messages
	case g.Request.Tokens != nil:
		b["prompt"] = g.Request.Tokens
	default:
		b["prompt"] = g.Request.Prompt
	}
	body, err = json.Marshal(b)
	return path, body, err
}

// Generate implements Backend.
func (rb HandlerBackend) Generate(ctx context.Context, g openai.Generation, emit func(string) error) (openai.Result, error) {
	path, body, err := openaiBody(g)
	if err != nil {
		return openai.Result{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return openai.Result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if a := CallerOf(ctx).Auth; a != "" {
		req.Header.Set("Authorization", a)
	}
	w := &sseReader{hdr: http.Header{}, emit: emit, start: time.Now()}
	rb.H.ServeHTTP(w, req)
	return w.result()
}

// sseReader is the ResponseWriter of a streamed OpenAI answer: it passes
// each piece of text to emit as the events arrive and keeps the usage.
type sseReader struct {
	hdr    http.Header
	status int
	buf    []byte
	emit   func(string) error
	start  time.Time
	first  time.Time // first piece of text
	res    openai.Result
	err    error // an error event, or emit's
	done   bool  // a finish reason arrived
	other  bytes.Buffer
}

func (s *sseReader) Header() http.Header { return s.hdr }

func (s *sseReader) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}

func (s *sseReader) Flush() {}

func (s *sseReader) Write(p []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	if s.status != http.StatusOK || !strings.HasPrefix(s.hdr.Get("Content-Type"), "text/event-stream") {
		if s.other.Len()+len(p) > infer.MaxBody {
			return 0, errors.New("answer too large")
		}
		return s.other.Write(p)
	}
	s.buf = append(s.buf, p...)
	for {
		i := bytes.Index(s.buf, []byte("\n\n"))
		if i < 0 {
			return len(p), nil
		}
		ev := s.buf[:i]
		s.buf = s.buf[i+2:]
		if err := s.event(ev); err != nil {
			s.err = err
			return 0, err
		}
	}
}

type sseChunk struct {
	Choices []struct {
		Text  *string `json:"text"`
		Delta *struct {
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

func (s *sseReader) event(ev []byte) error {
	data, ok := bytes.CutPrefix(bytes.TrimSpace(ev), []byte("data: "))
	if !ok || string(data) == "[DONE]" {
		return nil
	}
	var c sseChunk
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("ollama: bad event from the inference router: %w", err)
	}
	if c.Error != nil {
		return &openai.Error{Status: http.StatusInternalServerError, Type: c.Error.Type, Code: c.Error.Code, Message: c.Error.Message}
	}
	if c.Usage != nil {
		s.res.PromptTokens, s.res.CompletionTokens = c.Usage.PromptTokens, c.Usage.CompletionTokens
	}
	for _, ch := range c.Choices {
		text := ch.Text
		if ch.Delta != nil {
			text = ch.Delta.Content
		}
		if ch.FinishReason != nil {
			s.res.FinishReason, s.done = *ch.FinishReason, true
		}
		if text == nil || *text == "" {
			continue
		}
		if s.first.IsZero() {
			s.first = time.Now()
		}
		s.res.Text += *text
		if s.emit != nil {
			if err := s.emit(*text); err != nil {
				return err
			}
		}
	}
	return nil
}

// result is the generation's outcome. The durations are measured here:
// prefill up to the first piece of text, decode after it (the OpenAI
// stream carries no timings).
func (s *sseReader) result() (openai.Result, error) {
	if s.err != nil {
		return s.res, s.err
	}
	if s.status != http.StatusOK || s.other.Len() > 0 && !s.done {
		var e struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
				Code    string `json:"code"`
			} `json:"error"`
		}
		msg := strings.TrimSpace(s.other.String())
		if json.Unmarshal(s.other.Bytes(), &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		status := s.status
		if status == http.StatusOK {
			status = http.StatusBadGateway
		}
		return s.res, &openai.Error{Status: status, Type: e.Error.Type, Code: e.Error.Code, Message: msg,
			RetryAfter: retryAfter(s.hdr.Get("Retry-After"))}
	}
	if !s.done {
		return s.res, errors.New("ollama: the inference stream ended without a finish reason")
	}
	end := time.Now()
	if s.first.IsZero() {
		s.first = end
	}
	s.res.PrefillDuration = s.first.Sub(s.start)
	s.res.DecodeDuration = end.Sub(s.first)
	return s.res, nil
}

func retryAfter(v string) time.Duration {
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
