package ollama

import (
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/internal/fixture"
)

// newEmbedServer serves the bert fixture as acme/bert and the chat
// fixture as acme/stories, through backend: the OpenAI server itself, or
// (viaHandler) HandlerBackend over it as the node does over its router.
func newEmbedServer(t *testing.T, viaHandler bool) string {
	t.Helper()
	models := openai.Files{"acme/bert": fixture.Path(t, "embed/bert-mini-f16.gguf"), "acme/stories": fixture.Path(t, fixture.Model)}
	srv, err := openai.NewServer(models, openai.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var backend Backend = srv
	if viaHandler {
		backend = HandlerBackend{H: srv}
	}
	s, err := New(Config{Backend: backend, Models: models, Running: srv})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return ts.URL
}

// TestEmbed: /api/embed and /api/embeddings give llama.cpp's embeddings
// (testdata/embed), directly and through HandlerBackend; truncation is on
// unless turned off; a chat model is refused.
func TestEmbed(t *testing.T) {
	b, err := os.ReadFile(fixture.Path(t, "embed/bert-mini-f16.llama.json"))
	if err != nil {
		t.Fatal(err)
	}
	var golden []struct {
		Prompt    string    `json:"prompt"`
		Tokens    []int32   `json:"tokens"`
		Embedding []float32 `json:"embedding"`
	}
	if err := json.Unmarshal(b, &golden); err != nil || len(golden) < 2 {
		t.Fatalf("golden: %v", err)
	}
	near := func(a, b []float32) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-4 {
				return false
			}
		}
		return true
	}
	for _, via := range []bool{false, true} {
		url := newEmbedServer(t, via)
		st, body := call(t, "POST", url+"/api/embed", map[string]any{"model": "acme/bert", "input": []string{golden[0].Prompt, golden[1].Prompt}})
		var r struct {
			Model           string      `json:"model"`
			Embeddings      [][]float32 `json:"embeddings"`
			PromptEvalCount int         `json:"prompt_eval_count"`
			TotalDuration   int64       `json:"total_duration"`
		}
		if st != 200 || json.Unmarshal(body, &r) != nil || r.Model != "acme/bert" || len(r.Embeddings) != 2 || r.TotalDuration <= 0 ||
			r.PromptEvalCount != len(golden[0].Tokens)+len(golden[1].Tokens) {
			t.Fatalf("handler %v: /api/embed %d %.300s", via, st, body)
		}
		for i := range r.Embeddings {
			if !near(r.Embeddings[i], golden[i].Embedding) {
				t.Errorf("handler %v: embedding %d differs from llama.cpp's", via, i)
			}
		}
		st, body = call(t, "POST", url+"/api/embeddings", map[string]any{"model": "acme/bert", "prompt": golden[0].Prompt})
		var legacy struct {
			Embedding []float32 `json:"embedding"`
		}
		if st != 200 || json.Unmarshal(body, &legacy) != nil || !near(legacy.Embedding, golden[0].Embedding) {
			t.Errorf("handler %v: /api/embeddings %d %.200s", via, st, body)
		}
		st, body = call(t, "POST", url+"/api/show", map[string]any{"model": "acme/bert"})
		if st != 200 || !strings.Contains(string(body), `"bert.embedding_length":128`) {
			t.Errorf("handler %v: /api/show of the embedding model: %d %.300s", via, st, body)
		}
		st, body = call(t, "POST", url+"/api/generate", map[string]any{"model": "acme/bert", "prompt": "hi", "stream": false})
		if st != 400 || !strings.Contains(string(body), "embedding model") {
			t.Errorf("handler %v: /api/generate with the embedding model: %d %.300s", via, st, body)
		}
		long := strings.Repeat("hello world ", 200)
		st, body = call(t, "POST", url+"/api/embed", map[string]any{"model": "acme/bert", "input": long})
		if r.PromptEvalCount = 0; st != 200 || json.Unmarshal(body, &r) != nil || r.PromptEvalCount != 256 {
			t.Errorf("handler %v: long input, truncated by default: %d %.200s", via, st, body)
		}
		for _, c := range []struct {
			body   map[string]any
			status int
			says   string
		}{
			{map[string]any{"model": "acme/bert", "input": long, "truncate": false}, 400, "context"},
			{map[string]any{"model": "acme/stories", "input": "hi"}, 400, "not an embedding model"},
			{map[string]any{"model": "acme/none", "input": "hi"}, 404, "not found"},
			{map[string]any{"model": "acme/bert", "input": 3}, 400, "input"},
			{map[string]any{"model": "acme/bert", "input": "hi", "dimensions": 64}, 400, "dimensions"},
		} {
			st, body := call(t, "POST", url+"/api/embed", c.body)
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(body, &e) != nil || st != c.status || !strings.Contains(e.Error, c.says) {
				t.Errorf("handler %v: %v: %d %s, want %d naming %q", via, c.body, st, body, c.status, c.says)
			}
		}
	}
}

// FuzzEmbedRequest: any /api/embed or /api/embeddings body gives an
// Embedding of non-empty texts for a valid model id, or an error.
func FuzzEmbedRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"acme/bert","input":"hello"}`,
		`{"model":"acme/bert:latest","input":["a","b"],"truncate":false,"keep_alive":"5m","dimensions":128}`,
		`{"model":"acme/bert","prompt":"hi","options":{"temperature":1}}`,
		`{"model":"acme/bert","input":[1,2]}`,
		`{"model":"nope","input":""}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, legacy bool) {
		var r embedRequest
		if json.Unmarshal(body, &r) != nil {
			return
		}
		e, err := r.embedding(legacy)
		if err != nil {
			return
		}
		if e.Model == "" || e.Dimensions < 0 || len(e.Inputs) > openai.MaxEmbeddingInputs {
			t.Fatalf("accepted %+v", e)
		}
		for _, in := range e.Inputs {
			if in.Text == "" {
				t.Fatalf("accepted an empty text from %s", body)
			}
		}
	})
}
