package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/inference"
	testdata "github.com/cairnhub/cairn/internal/fixture"
)

const testPrompt = "Once upon a time"

// fixture returns the model path and llama.cpp's greedy continuation of
// testPrompt (64 tokens, prompt excluded).
func fixture(t testing.TB) (path, want string) {
	t.Helper()
	path = testdata.Path(t, testdata.Model)
	b, err := os.ReadFile(testdata.Path(t, testdata.Expected))
	if err != nil {
		t.Fatal(err)
	}
	const marker = "=== OUTPUT ===\n"
	i := bytes.Index(b, []byte(marker))
	if i < 0 {
		t.Fatal("no output marker in the expected file")
	}
	out := strings.TrimRight(string(b[i+len(marker):]), "\n")
	// llama-cli echoes the prompt after BOS with the SentencePiece space.
	gen, ok := strings.CutPrefix(out, " "+testPrompt)
	if !ok {
		t.Fatalf("expected output %q does not start with the prompt", out)
	}
	return path, gen
}

func newServer(t *testing.T, cfg Config) (*Server, string, string) {
	t.Helper()
	path, want := fixture(t)
	cfg.Logger = nil
	s, err := NewServer(Files{"acme/stories": path}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts.URL, want
}

func post(t *testing.T, url string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

type testResponse struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int     `json:"index"`
		Text    *string `json:"text"`
		Message *struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Delta *struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
}

func greedy(extra map[string]any) map[string]any {
	m := map[string]any{"model": "acme/stories", "prompt": testPrompt, "max_tokens": 64, "temperature": 0}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestCompletionsMatchLlamaCpp(t *testing.T) {
	_, url, want := newServer(t, Config{})
	resp, body := post(t, url+"/v1/completions", greedy(nil))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var r testResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Choices) != 1 || r.Choices[0].Text == nil {
		t.Fatalf("choices = %s", body)
	}
	if got := *r.Choices[0].Text; got != want {
		t.Errorf("text = %q\nwant %q", got, want)
	}
	if r.Object != "text_completion" || !strings.HasPrefix(r.ID, "cmpl-") || r.Model != "acme/stories" || r.Created == 0 {
		t.Errorf("envelope = %s", body)
	}
	if f := r.Choices[0].FinishReason; f == nil || *f != "length" {
		t.Errorf("finish_reason = %v, want length", f)
	}
	if r.Usage == nil || *r.Usage != (usage{5, 64, 69}) {
		t.Errorf("usage = %+v, want 5, 64, 69", r.Usage)
	}

	// echo puts the prompt in front.
	_, body = post(t, url+"/v1/completions", greedy(map[string]any{"echo": true}))
	r = testResponse{}
	json.Unmarshal(body, &r)
	if len(r.Choices) != 1 || r.Choices[0].Text == nil || *r.Choices[0].Text != testPrompt+want {
		t.Errorf("echo: %s", body)
	}
}

// sseEvents reads a server-sent-event stream: the data of each event.
func sseEvents(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line %q is not a data line", line)
		}
		out = append(out, data)
	}
	return out
}

func TestStreamCompletions(t *testing.T) {
	_, url, want := newServer(t, Config{})
	resp, body := post(t, url+"/v1/completions", greedy(map[string]any{"stream": true, "stream_options": map[string]any{"include_usage": true}}))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	events := sseEvents(t, body)
	if len(events) < 4 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("events = %q, want chunks ending in [DONE]", events)
	}
	var text strings.Builder
	var id string
	var finish string
	for i, e := range events[:len(events)-2] {
		var c testResponse
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatalf("event %d %q: %v", i, e, err)
		}
		if c.Object != "text_completion" || len(c.Choices) != 1 || c.Choices[0].Text == nil || c.Usage != nil {
			t.Fatalf("event %d = %s", i, e)
		}
		if !strings.Contains(e, `"usage":null`) {
			t.Errorf("event %d has no \"usage\":null with include_usage: %s", i, e)
		}
		if id == "" {
			id = c.ID
		} else if c.ID != id {
			t.Errorf("event %d id %q, first %q", i, c.ID, id)
		}
		text.WriteString(*c.Choices[0].Text)
		if f := c.Choices[0].FinishReason; f != nil {
			if i != len(events)-3 {
				t.Errorf("finish_reason on event %d of %d", i, len(events))
			}
			finish = *f
		}
	}
	if text.String() != want {
		t.Errorf("streamed text = %q\nwant %q", text.String(), want)
	}
	if finish != "length" {
		t.Errorf("finish_reason = %q, want length", finish)
	}
	var u testResponse
	if err := json.Unmarshal([]byte(events[len(events)-2]), &u); err != nil {
		t.Fatal(err)
	}
	if u.Choices == nil || len(u.Choices) != 0 || u.Usage == nil || *u.Usage != (usage{5, 64, 69}) {
		t.Errorf("usage chunk = %s, want empty choices and usage 5, 64, 69", events[len(events)-2])
	}
}

func TestChat(t *testing.T) {
	_, url, _ := newServer(t, Config{})
	msgs := []map[string]any{{"role": "system", "content": "You tell stories."}, {"role": "user", "content": []map[string]any{{"type": "text", "text": "Tell me about Lily."}}}}
	req := map[string]any{"model": "acme/stories", "messages": msgs, "max_completion_tokens": 20, "temperature": 0}
	resp, body := post(t, url+"/v1/chat/completions", req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var r testResponse
	json.Unmarshal(body, &r)
	if r.Object != "chat.completion" || !strings.HasPrefix(r.ID, "chatcmpl-") || len(r.Choices) != 1 || r.Choices[0].Message == nil ||
		r.Choices[0].Message.Role != "assistant" || r.Choices[0].Message.Content == "" || r.Usage == nil || r.Usage.CompletionTokens == 0 ||
		r.Usage.CompletionTokens > 20 || r.Usage.TotalTokens != r.Usage.PromptTokens+r.Usage.CompletionTokens {
		t.Fatalf("chat response = %s", body)
	}

	req["stream"] = true
	req["stream_options"] = map[string]any{"include_usage": true}
	resp, body = post(t, url+"/v1/chat/completions", req)
	events := sseEvents(t, body)
	if resp.StatusCode != 200 || len(events) < 4 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("status %d, events %q", resp.StatusCode, events)
	}
	var text strings.Builder
	for i, e := range events[:len(events)-2] {
		var c testResponse
		if err := json.Unmarshal([]byte(e), &c); err != nil || c.Object != "chat.completion.chunk" || len(c.Choices) != 1 || c.Choices[0].Delta == nil {
			t.Fatalf("event %d = %s (%v)", i, e, err)
		}
		d := c.Choices[0].Delta
		if (i == 0) != (d.Role == "assistant") {
			t.Errorf("event %d role %q; want the role on the first chunk only", i, d.Role)
		}
		if d.Content != nil {
			text.WriteString(*d.Content)
		}
		if last := i == len(events)-3; last != (c.Choices[0].FinishReason != nil) {
			t.Errorf("event %d finish_reason %v", i, c.Choices[0].FinishReason)
		}
	}
	if text.String() != r.Choices[0].Message.Content {
		t.Errorf("streamed %q, non-streamed %q (greedy, same prompt)", text.String(), r.Choices[0].Message.Content)
	}
	var u testResponse
	json.Unmarshal([]byte(events[len(events)-2]), &u)
	if len(u.Choices) != 0 || u.Usage == nil || *u.Usage != *r.Usage {
		t.Errorf("usage chunk %s, want %+v", events[len(events)-2], r.Usage)
	}
}

func TestStop(t *testing.T) {
	_, url, want := newServer(t, Config{})
	for _, tt := range []struct {
		name string
		stop any
		cut  string
	}{
		{"string", "Lily", "Lily"},
		{"array", []string{"nothing like this", "park"}, "park"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				resp, body := post(t, url+"/v1/completions", greedy(map[string]any{"stop": tt.stop, "stream": stream}))
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				var text, finish string
				if stream {
					events := sseEvents(t, body)
					for _, e := range events[:len(events)-1] {
						var c testResponse
						json.Unmarshal([]byte(e), &c)
						text += *c.Choices[0].Text
						if f := c.Choices[0].FinishReason; f != nil {
							finish = *f
						}
					}
				} else {
					var r testResponse
					json.Unmarshal(body, &r)
					text, finish = *r.Choices[0].Text, *r.Choices[0].FinishReason
				}
				wantText, _, _ := strings.Cut(want, tt.cut)
				if text != wantText || finish != "stop" {
					t.Errorf("stream=%v: text %q finish %q; want %q, stop", stream, text, finish, wantText)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	_, url, _ := newServer(t, Config{})
	long := strings.Repeat("Once upon a time there was a girl. ", 40)
	for _, tt := range []struct {
		name   string
		path   string
		body   any
		status int
		param  string
		code   string
	}{
		{"bad json", "/v1/completions", `{"model":`, 400, "", "invalid_json"},
		{"two objects", "/v1/completions", `{"model":"acme/stories","prompt":"x"} {}`, 400, "", "invalid_json"},
		{"no model", "/v1/completions", map[string]any{"prompt": "x"}, 400, "model", "missing_required_parameter"},
		{"unknown model", "/v1/completions", map[string]any{"model": "acme/nope", "prompt": "x"}, 404, "model", "model_not_found"},
		{"unknown chat model", "/v1/chat/completions", map[string]any{"model": "acme/nope", "messages": []any{map[string]any{"role": "user", "content": "x"}}}, 404, "model", "model_not_found"},
		{"no prompt", "/v1/completions", map[string]any{"model": "acme/stories"}, 400, "prompt", "missing_required_parameter"},
		{"no messages", "/v1/chat/completions", map[string]any{"model": "acme/stories"}, 400, "messages", "missing_required_parameter"},
		{"image part", "/v1/chat/completions", map[string]any{"model": "acme/stories", "messages": []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "image_url"}}}}}, 400, "messages[0].content", "invalid_value"},
		{"n 2", "/v1/completions", greedy(map[string]any{"n": 2}), 400, "n", "invalid_value"},
		{"temperature 3", "/v1/completions", greedy(map[string]any{"temperature": 3}), 400, "temperature", "invalid_value"},
		{"temperature type", "/v1/completions", greedy(map[string]any{"temperature": "hot"}), 400, "temperature", "invalid_type"},
		{"top_p", "/v1/completions", greedy(map[string]any{"top_p": 1.5}), 400, "top_p", "invalid_value"},
		{"max_tokens 0", "/v1/completions", greedy(map[string]any{"max_tokens": 0}), 400, "max_tokens", "invalid_value"},
		{"presence_penalty", "/v1/completions", greedy(map[string]any{"presence_penalty": 5}), 400, "presence_penalty", "invalid_value"},
		{"frequency_penalty", "/v1/completions", greedy(map[string]any{"frequency_penalty": 3}), 400, "frequency_penalty", "invalid_value"},
		{"stop type", "/v1/completions", greedy(map[string]any{"stop": 7}), 400, "stop", "invalid_value"},
		{"keep_alive", "/v1/completions", greedy(map[string]any{"keep_alive": "soon"}), 400, "keep_alive", "invalid_value"},
		{"two prompts", "/v1/completions", greedy(map[string]any{"prompt": []string{"a", "b"}}), 400, "prompt", "invalid_value"},
		{"logprobs", "/v1/completions", greedy(map[string]any{"logprobs": 3}), 400, "logprobs", "unsupported_parameter"},
		{"stream_options without stream", "/v1/completions", greedy(map[string]any{"stream_options": map[string]any{"include_usage": true}}), 400, "stream_options", "invalid_value"},
		{"prompt too long", "/v1/completions", greedy(map[string]any{"prompt": long}), 400, "prompt", "context_length_exceeded"},
		{"prompt too long, streaming", "/v1/completions", greedy(map[string]any{"prompt": long, "stream": true}), 400, "prompt", "context_length_exceeded"},
		{"token outside vocabulary", "/v1/completions", greedy(map[string]any{"prompt": []int{1, 99999}}), 400, "prompt", "invalid_value"},
		{"unknown path", "/v1/audio/speech", map[string]any{}, 404, "", "unknown_url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, url+tt.path, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			var e struct {
				Error *struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || e.Error.Message == "" {
				t.Fatalf("body %s is not an OpenAI error (%v)", body, err)
			}
			wantType := "invalid_request_error"
			if tt.status >= 500 {
				wantType = "server_error"
			}
			str := func(p *string) string {
				if p == nil {
					return ""
				}
				return *p
			}
			if e.Error.Type != wantType || str(e.Error.Param) != tt.param || str(e.Error.Code) != tt.code {
				t.Errorf("error = type %q param %q code %q; want %q %q %q (%s)", e.Error.Type, str(e.Error.Param), str(e.Error.Code), wantType, tt.param, tt.code, e.Error.Message)
			}
		})
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/v1/completions", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/completions = %d, want 405", resp.StatusCode)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestQueueFull: with a queue of 1, one generation running and one
// waiting, the next request gets 503 with Retry-After; the waiting one is
// served once the first ends.
func TestQueueFull(t *testing.T) {
	s, url, _ := newServer(t, Config{Queue: 1, Engine: inference.Config{Parallel: 1}})
	started := make(chan struct{})
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // holds the model's turn, emitting slowly
		defer wg.Done()
		once := sync.Once{}
		_, err := s.Generate(context.Background(), Generation{Model: "acme/stories", Request: inference.Request{Prompt: testPrompt, MaxTokens: 8}}, func(string) error {
			once.Do(func() { close(started) })
			<-release
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}()
	<-started
	var queuedStatus int
	go func() {
		defer wg.Done()
		resp, body := post(t, url+"/v1/completions", greedy(map[string]any{"max_tokens": 4}))
		queuedStatus = resp.StatusCode
		if resp.StatusCode != 200 {
			t.Errorf("queued request: %d %s", resp.StatusCode, body)
		}
	}()
	waitFor(t, "one request queued", func() bool {
		l := s.Loaded()
		return len(l) == 1 && l[0].Busy && l[0].Waiting == 1
	})
	resp, body := post(t, url+"/v1/completions", greedy(map[string]any{"max_tokens": 4}))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"code":"queue_full"`) {
		t.Errorf("third request: status %d, Retry-After %q, body %s; want 503 queue_full with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	close(release)
	wg.Wait()
	if queuedStatus != 200 {
		t.Errorf("queued request status %d", queuedStatus)
	}
}

func TestKeepAlive(t *testing.T) {
	s, url, _ := newServer(t, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-runDone
	}()

	// Default: stays loaded, with an expiry about 5m away; /v1/models
	// lists it (here under the id Files lists too).
	post(t, url+"/v1/completions", greedy(map[string]any{"max_tokens": 2}))
	l := s.Loaded()
	if len(l) != 1 || l[0].Info.Arch != "llama" || time.Until(l[0].Expires) < 4*time.Minute {
		t.Fatalf("after a default request: loaded = %+v, want the model with a 5m keep-alive", l)
	}
	// Negative: never expires.
	post(t, url+"/v1/completions", greedy(map[string]any{"max_tokens": 2, "keep_alive": -1}))
	if l := s.Loaded(); len(l) != 1 || !l[0].Expires.IsZero() {
		t.Fatalf("keep_alive -1: loaded = %+v, want no expiry", l)
	}
	// 0: unloaded once the request ends.
	resp, body := post(t, url+"/v1/completions", greedy(map[string]any{"max_tokens": 2, "keep_alive": 0}))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if l := s.Loaded(); len(l) != 0 {
		t.Fatalf("keep_alive 0: loaded = %+v, want none", l)
	}
	// A short duration: the janitor unloads it.
	post(t, url+"/v1/completions", greedy(map[string]any{"max_tokens": 2, "keep_alive": "100ms"}))
	if l := s.Loaded(); len(l) != 1 {
		t.Fatalf("keep_alive 100ms: loaded = %+v right after the request, want the model", l)
	}
	waitFor(t, "the janitor to unload the model", func() bool { return len(s.Loaded()) == 0 })
	// Loaded again on the next request.
	if resp, body := post(t, url+"/v1/completions", greedy(map[string]any{"max_tokens": 2})); resp.StatusCode != 200 {
		t.Fatalf("after unload: %d %s", resp.StatusCode, body)
	}
}

func TestModels(t *testing.T) {
	s, url, _ := newServer(t, Config{})
	get := func() []ModelObject {
		resp, err := http.Get(url + "/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l struct {
			Object string        `json:"object"`
			Data   []ModelObject `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || l.Object != "list" {
			t.Fatalf("models: %+v %v", l, err)
		}
		return l.Data
	}
	if got := get(); len(got) != 1 || got[0].ID != "acme/stories" || got[0].Object != "model" || got[0].OwnedBy != "acme" {
		t.Errorf("models = %+v, want acme/stories", got)
	}
	// A model loaded under another id is listed too.
	path, _ := s.models.Locate(t.Context(), "acme/stories")
	s.models = Files{"acme/stories": path, "acme/alias": path}
	post(t, url+"/v1/completions", map[string]any{"model": "acme/alias", "prompt": "x", "max_tokens": 1})
	s.models = Files{"acme/stories": path}
	if got := get(); len(got) != 2 || got[1].ID != "acme/alias" {
		t.Errorf("models = %+v, want acme/stories and the loaded acme/alias", got)
	}
	resp, err := http.Get(url + "/v1/models/acme/stories")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /v1/models/acme/stories = %d", resp.StatusCode)
	}
}

// TestCancel: the end of the request's context stops the generation.
func TestCancel(t *testing.T) {
	s, _, _ := newServer(t, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	pieces := 0
	res, err := s.Generate(ctx, Generation{Model: "acme/stories", Request: inference.Request{Prompt: testPrompt, MaxTokens: 64}}, func(string) error {
		pieces++
		if pieces == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || res.CompletionTokens >= 64 {
		t.Errorf("Generate after cancel = %d tokens, %v; want fewer than 64 and context.Canceled", res.CompletionTokens, err)
	}
	if l := s.Loaded(); len(l) != 1 || l[0].Busy {
		t.Errorf("loaded = %+v, want the model idle", l)
	}
	// A request that waits in the queue and is cancelled leaves the queue.
	_, err = s.Generate(ctx, Generation{Model: "acme/stories", Request: inference.Request{Prompt: testPrompt}}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Generate with an ended context = %v", err)
	}
	if l := s.Loaded(); len(l) != 1 || l[0].Waiting != 0 || l[0].Busy {
		t.Errorf("loaded = %+v, want idle, nobody waiting", l)
	}
}

func TestParseKeepAlive(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{`"5m"`, 5 * time.Minute, false},
		{`300`, 300 * time.Second, false},
		{`"300"`, 300 * time.Second, false},
		{`0`, 0, false},
		{`"0"`, 0, false},
		{`-1`, -1, false},
		{`"-1"`, -1, false},
		{`"1h30m"`, 90 * time.Minute, false},
		{`1.5`, 1500 * time.Millisecond, false},
		{`"soon"`, 0, true},
		{`true`, 0, true},
		{`1e300`, 0, true},
	} {
		got, err := ParseKeepAlive(json.RawMessage(tt.in))
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseKeepAlive(%s) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"a/b","prompt":"x","max_tokens":3,"stop":["a","b"],"keep_alive":"5m"}`,
		`{"model":"a/b","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"a/b","prompt":[[1,2,3]],"temperature":0,"seed":-5,"top_k":0}`,
		`{"model":"a/b","prompt":["x"],"n":1,"logprobs":null,"tools":[]}`,
		`{"model":"","prompt":1}`,
		`[]`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, isChat bool) {
		p, err := parseRequest(body, isChat)
		if (p == nil) == (err == nil) {
			t.Fatalf("parseRequest = %v, %v: want exactly one", p, err)
		}
		if err != nil {
			if err.Status != 400 || err.Message == "" {
				t.Fatalf("error %+v", err)
			}
			return
		}
		g := p.gen
		if g.Model == "" || len(g.Request.Stop) > MaxStops || g.Request.MaxTokens < 0 || g.Request.Params.Validate() != nil {
			t.Fatalf("accepted %+v", g)
		}
		if isChat != (g.Messages != nil) {
			t.Fatalf("chat %v but messages %v", isChat, g.Messages)
		}
		if !isChat && g.Request.Tokens == nil && !json.Valid(body) {
			t.Fatal(fmt.Sprint("accepted invalid JSON ", string(body)))
		}
	})
}

func TestAPIKeys(t *testing.T) {
	_, url, _ := newServer(t, Config{APIKeys: []string{"k1", "s3cret"}})
	for _, tt := range []struct {
		auth string
		want int
	}{
		{"", 401},
		{"Bearer wrong", 401},
		{"s3cret", 401},
		{"Bearer s3cret", 200},
		{"Bearer k1", 200},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/v1/models", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || (tt.want == 401 && !strings.Contains(string(body), `"code":"invalid_api_key"`)) {
			t.Errorf("Authorization %q: %d %s; want %d", tt.auth, resp.StatusCode, body, tt.want)
		}
	}
	if _, err := NewServer(Files{}, Config{APIKeys: []string{""}}); err == nil {
		t.Error("NewServer accepted an empty API key")
	}
}

// repeats counts the ids that occur again after their first occurrence.
func repeats(ids []int32) int {
	seen := make(map[int32]bool, len(ids))
	n := 0
	for _, id := range ids {
		if seen[id] {
			n++
		}
		seen[id] = true
	}
	return n
}

// TestPenalties: frequency_penalty and presence_penalty reach the sampler.
// At temperature 0 a positive penalty changes the greedy completion and
// repeats fewer tokens, a negative one more; out of range is a 400 naming
// the field.
func TestPenalties(t *testing.T) {
	s, url, _ := newServer(t, Config{})
	// complete runs body over HTTP, then through Server.Generate with the
	// same parsed request for the token ids (the HTTP response carries
	// only text); greedy, so both give the same completion.
	complete := func(t *testing.T, body map[string]any) (string, []int32) {
		t.Helper()
		resp, out := post(t, url+"/v1/completions", body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, out)
		}
		var r testResponse
		if err := json.Unmarshal(out, &r); err != nil || len(r.Choices) != 1 || r.Choices[0].Text == nil {
			t.Fatalf("response %s (%v)", out, err)
		}
		j, _ := json.Marshal(body)
		p, perr := parseRequest(j, false)
		if perr != nil {
			t.Fatal(perr)
		}
		res, err := s.Generate(t.Context(), p.gen, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != *r.Choices[0].Text {
			t.Fatalf("Generate text = %q, want the HTTP completion %q", res.Text, *r.Choices[0].Text)
		}
		return res.Text, res.Tokens
	}
	baseText, baseIDs := complete(t, greedy(nil))
	base := repeats(baseIDs)
	if base == 0 {
		t.Fatalf("repeats(greedy completion) = 0, want some for the penalties to act on: %q", baseText)
	}
	for _, tt := range []struct {
		name  string
		extra map[string]any
		fewer bool // fewer repeated tokens than without penalties (else more)
	}{
		{"presence_penalty 2", map[string]any{"presence_penalty": 2}, true},
		{"frequency_penalty 2", map[string]any{"frequency_penalty": 2}, true},
		{"both 1", map[string]any{"frequency_penalty": 1, "presence_penalty": 1}, true},
		{"frequency_penalty -2", map[string]any{"frequency_penalty": -2}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text, ids := complete(t, greedy(tt.extra))
			if text == baseText {
				t.Errorf("completion(%v) = %q, want it to differ from the one without penalties", tt.extra, text)
			}
			if got := repeats(ids); tt.fewer && got >= base || !tt.fewer && got <= base {
				t.Errorf("repeats(completion(%v)) = %d, want %s than %d (text %q)", tt.extra, got, map[bool]string{true: "fewer", false: "more"}[tt.fewer], base, text)
			}
			again, _ := complete(t, greedy(tt.extra))
			if again != text {
				t.Errorf("completion(%v) again = %q, want %q (greedy is deterministic)", tt.extra, again, text)
			}
		})
	}
	// Zero penalties are off: the completion without them, unchanged.
	t.Run("zero", func(t *testing.T) {
		if text, _ := complete(t, greedy(map[string]any{"frequency_penalty": 0, "presence_penalty": 0})); text != baseText {
			t.Errorf("completion(penalties 0) = %q, want %q", text, baseText)
		}
	})
	for _, tt := range []struct {
		field string
		value float64
	}{
		{"frequency_penalty", 3},
		{"frequency_penalty", -2.5},
		{"presence_penalty", 2.01},
	} {
		t.Run(fmt.Sprintf("%s %v", tt.field, tt.value), func(t *testing.T) {
			resp, out := post(t, url+"/v1/completions", greedy(map[string]any{tt.field: tt.value}))
			var e struct {
				Error struct {
					Message string `json:"message"`
					Param   string `json:"param"`
					Code    string `json:"code"`
				} `json:"error"`
			}
			json.Unmarshal(out, &e)
			if resp.StatusCode != 400 || e.Error.Param != tt.field || e.Error.Code != "invalid_value" || !strings.Contains(e.Error.Message, tt.field) {
				t.Errorf("POST %s %v = %d %s, want 400 invalid_value naming %s", tt.field, tt.value, resp.StatusCode, out, tt.field)
			}
		})
	}
}
