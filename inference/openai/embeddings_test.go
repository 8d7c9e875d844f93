package openai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	testdata "github.com/cairnhub/cairn/internal/fixture"
)

// embedGolden is llama.cpp's first prompt, tokens and embedding for the
// bert fixture (testdata/embed/README.md).
type embedGolden struct {
	Prompt    string    `json:"prompt"`
	Tokens    []int32   `json:"tokens"`
	Embedding []float32 `json:"embedding"`
}

func newEmbedServer(t *testing.T) (string, embedGolden) {
	t.Helper()
	b, err := os.ReadFile(testdata.Path(t, "embed/bert-mini-f16.llama.json"))
	if err != nil {
		t.Fatal(err)
	}
	var golden []embedGolden
	if err := json.Unmarshal(b, &golden); err != nil || len(golden) == 0 {
		t.Fatalf("golden file: %v", err)
	}
	s, err := NewServer(Files{"acme/bert": testdata.Path(t, "embed/bert-mini-f16.gguf"), "acme/stories": testdata.Path(t, testdata.Model)}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return ts.URL, golden[0]
}

type embeddingsAnswer struct {
	Object string `json:"object"`
	Model  string `json:"model"`
	Data   []struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Usage struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestEmbeddingsEndpoint: /v1/embeddings answers in OpenAI's shape with
// llama.cpp's embedding, from text and from token ids, as floats and as
// base64, and counts the prompt tokens.
func TestEmbeddingsEndpoint(t *testing.T) {
	url, g := newEmbedServer(t)
	resp, body := post(t, url+"/v1/embeddings", map[string]any{"model": "acme/bert", "input": []any{g.Prompt, g.Tokens}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var a embeddingsAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	if a.Object != "list" || a.Model != "acme/bert" || len(a.Data) != 2 || a.Usage.PromptTokens != 2*len(g.Tokens) || a.Usage.TotalTokens != a.Usage.PromptTokens {
		t.Fatalf("answer %s", body)
	}
	for i, d := range a.Data {
		var v []float32
		if err := json.Unmarshal(d.Embedding, &v); err != nil {
			t.Fatal(err)
		}
		if d.Object != "embedding" || d.Index != i || maxDiff(v, g.Embedding) > 1e-4 {
			t.Errorf("data[%d]: object %q index %d, max diff from llama.cpp %.2e", i, d.Object, d.Index, maxDiff(v, g.Embedding))
		}
	}
	resp, body = post(t, url+"/v1/embeddings", map[string]any{"model": "acme/bert", "input": g.Prompt, "encoding_format": "base64", "dimensions": len(g.Embedding)})
	if resp.StatusCode != 200 {
		t.Fatalf("base64: status %d: %s", resp.StatusCode, body)
	}
	a = embeddingsAnswer{}
	var s string
	if err := json.Unmarshal(body, &a); err != nil || len(a.Data) != 1 || json.Unmarshal(a.Data[0].Embedding, &s) != nil {
		t.Fatalf("base64 answer %s", body)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != 4*len(g.Embedding) {
		t.Fatalf("base64 embedding of %d bytes: %v", len(raw), err)
	}
	v := make([]float32, len(g.Embedding))
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	if d := maxDiff(v, g.Embedding); d > 1e-4 {
		t.Errorf("base64 embedding differs from llama.cpp's by %.2e", d)
	}
}

// TestEmbeddingsErrors: requests the server cannot serve get a 400 that
// names the parameter.
func TestEmbeddingsErrors(t *testing.T) {
	url, _ := newEmbedServer(t)
	long := strings.Repeat("hello world ", 200)
	for _, tt := range []struct {
		name   string
		path   string
		body   any
		status int
		param  string
		code   string
	}{
		{"no model", "/v1/embeddings", map[string]any{"input": "x"}, 400, "model", "missing_required_parameter"},
		{"no input", "/v1/embeddings", map[string]any{"model": "acme/bert"}, 400, "input", "invalid_value"},
		{"empty input", "/v1/embeddings", map[string]any{"model": "acme/bert", "input": ""}, 400, "input", "invalid_value"},
		{"empty list", "/v1/embeddings", map[string]any{"model": "acme/bert", "input": []string{}}, 400, "input", "invalid_value"},
		{"input type", "/v1/embeddings", map[string]any{"model": "acme/bert", "input": map[string]any{}}, 400, "input", "invalid_value"},
		{"format", "/v1/embeddings", map[string]any{"model": "acme/bert", "input": "x", "encoding_format": "hex"}, 400, "encoding_format", "invalid_value"},
		{"dimensions", "/v1/embeddings", map[string]any{"model": "acme/bert", "input": "x", "dimensions": 64}, 400, "dimensions", "unsupported_value"},
		{"token outside vocabulary", "/v1/embeddings", map[string]any{"model": "acme/bert", "input": []int{101, 99999, 102}}, 400, "input", "invalid_value"},
		{"too long", "/v1/embeddings", map[string]any{"model": "acme/bert", "input": long}, 400, "input", "context_length_exceeded"},
		{"unknown model", "/v1/embeddings", map[string]any{"model": "acme/nope", "input": "x"}, 404, "model", "model_not_found"},
		{"chat model", "/v1/embeddings", map[string]any{"model": "acme/stories", "input": "x"}, 400, "model", "model_not_embedding"},
		{"generate with embedding model", "/v1/completions", map[string]any{"model": "acme/bert", "prompt": "hello"}, 400, "model", "model_not_generative"},
		{"get", "/v1/embeddings", nil, 405, "", "method_not_allowed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var status int
			var body []byte
			if tt.body == nil {
				resp, err := http.Get(url + tt.path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			} else {
				resp, b := post(t, url+tt.path, tt.body)
				status, body = resp.StatusCode, b
			}
			var e struct {
				Error struct {
					Param *string `json:"param"`
					Code  *string `json:"code"`
				} `json:"error"`
			}
			if status != tt.status || json.Unmarshal(body, &e) != nil || e.Error.Code == nil || *e.Error.Code != tt.code ||
				(tt.param != "" && (e.Error.Param == nil || *e.Error.Param != tt.param)) {
				t.Errorf("status %d, body %s; want %d %s %s", status, body, tt.status, tt.param, tt.code)
			}
		})
	}
	resp, body := post(t, url+"/v1/embeddings", map[string]any{"model": "acme/bert", "input": long, "truncate": true})
	var a embeddingsAnswer
	if resp.StatusCode != 200 || json.Unmarshal(body, &a) != nil || a.Usage.PromptTokens != 256 {
		t.Errorf("truncate: status %d, %d prompt tokens: %.200s", resp.StatusCode, a.Usage.PromptTokens, body)
	}
}

// FuzzParseEmbeddings: any body gives a request or a 400 naming the
// problem; an accepted one has a model and 1 to MaxEmbeddingInputs
// non-empty inputs.
func FuzzParseEmbeddings(f *testing.F) {
	for _, s := range []string{
		`{"model":"a/b","input":"hello"}`,
		`{"model":"a/b","input":["a","b"],"encoding_format":"base64","dimensions":128}`,
		`{"model":"a/b","input":[101,7,102],"truncate":true,"keep_alive":"5m"}`,
		`{"model":"a/b","input":[[101,102],"x"],"user":"u"}`,
		`{"model":"a/b","input":[]}`,
		`{"model":"","input":1}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, _, apiErr := parseEmbeddings(body)
		if apiErr != nil {
			if apiErr.Status != 400 || apiErr.Message == "" {
				t.Fatalf("error %+v", apiErr)
			}
			return
		}
		if e.Model == "" || len(e.Inputs) == 0 || len(e.Inputs) > MaxEmbeddingInputs || e.Dimensions < 0 {
			t.Fatalf("accepted %+v", e)
		}
		for i, in := range e.Inputs {
			if in.Text == "" && len(in.Tokens) == 0 {
				t.Fatalf("accepted empty input %d of %s", i, body)
			}
		}
	})
}
