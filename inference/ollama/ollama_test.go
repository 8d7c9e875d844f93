package ollama

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/internal/fixture"
)

const prompt = "Once upon a time"

// greedy is llama.cpp's greedy continuation of prompt by the fixture
// model (64 tokens, prompt excluded).
func greedy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(fixture.Path(t, fixture.Expected))
	if err != nil {
		t.Fatal(err)
	}
	_, out, ok := bytes.Cut(b, []byte("=== OUTPUT ===\n"))
	if !ok {
		t.Fatal("no output marker in the expected file")
	}
	gen, ok := strings.CutPrefix(strings.TrimRight(string(out), "\n"), " "+prompt)
	if !ok {
		t.Fatalf("expected output %q does not start with the prompt", out)
	}
	return gen
}

type fakePuller struct{ err error }

func (p fakePuller) Pull(_ context.Context, id string, progress func(done, total int64)) error {
	if p.err != nil {
		return p.err
	}
	for i := int64(1); i <= 4; i++ {
		if progress != nil {
			progress(i*100, 400)
		}
	}
	return nil
}

func newTestServer(t *testing.T, puller Puller) string {
	t.Helper()
	models := openai.Files{"acme/stories": fixture.Path(t, fixture.Model)}
	backend, err := openai.NewServer(models, openai.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Backend: backend, Models: models, Running: backend, Puller: puller})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		backend.Close()
	})
	return ts.URL
}

func call(t *testing.T, method, url string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		if s, ok := body.(string); ok {
			b = []byte(s)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// lines decodes an NDJSON body.
func lines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("NDJSON line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

var greedyOptions = map[string]any{"temperature": 0, "repeat_penalty": 1, "num_predict": 64}

func TestGenerateRawGreedyMatchesLlamaCpp(t *testing.T) {
	url := newTestServer(t, nil)
	want := greedy(t)
	st, b := call(t, "POST", url+"/api/generate", map[string]any{
		"model": "acme/stories", "prompt": prompt, "raw": true, "stream": false, "options": greedyOptions})
	if st != 200 {
		t.Fatalf("status %d: %s", st, b)
	}
	var r map[string]any
	json.Unmarshal(b, &r)
	if r["response"] != want {
		t.Fatalf("response %q\nwant     %q", r["response"], want)
	}
	if r["done"] != true || r["done_reason"] != "length" || r["eval_count"] != float64(64) || r["prompt_eval_count"] != float64(5) {
		t.Fatalf("counters: %v", r)
	}
	if d, _ := r["total_duration"].(float64); d <= 0 {
		t.Fatalf("total_duration %v", r["total_duration"])
	}

	// Streamed, the pieces add up to the same text and the last line is done.
	st, b = call(t, "POST", url+"/api/generate", map[string]any{
		"model": "acme/stories:latest", "prompt": prompt, "raw": true, "options": greedyOptions})
	if st != 200 {
		t.Fatalf("status %d: %s", st, b)
	}
	ls := lines(t, b)
	var text strings.Builder
	for i, l := range ls {
		text.WriteString(l["response"].(string))
		if done := l["done"] == true; done != (i == len(ls)-1) {
			t.Fatalf("line %d of %d: done=%v", i, len(ls), l["done"])
		}
	}
	if text.String() != want || len(ls) < 10 {
		t.Fatalf("streamed %d lines, text %q", len(ls), text.String())
	}
}

func TestChatStreams(t *testing.T) {
	url := newTestServer(t, nil)
	st, b := call(t, "POST", url+"/api/chat", map[string]any{
		"model": "acme/stories", "messages": []map[string]string{{"role": "user", "content": "Tell a story"}},
		"options": map[string]any{"num_predict": 8, "seed": 1}, "keep_alive": "1m"})
	if st != 200 {
		t.Fatalf("status %d: %s", st, b)
	}
	ls := lines(t, b)
	last := ls[len(ls)-1]
	if last["done"] != true || last["eval_count"] != float64(8) {
		t.Fatalf("last line %v", last)
	}
	for _, l := range ls[:len(ls)-1] {
		m, _ := l["message"].(map[string]any)
		if m["role"] != "assistant" {
			t.Fatalf("line %v", l)
		}
	}
	// The model is loaded now: /api/ps lists it, /api/tags lists it with details.
	_, b = call(t, "GET", url+"/api/ps", nil)
	var ps struct {
		Models []listed `json:"models"`
	}
	json.Unmarshal(b, &ps)
	if len(ps.Models) != 1 || ps.Models[0].Name != "acme/stories:latest" || ps.Models[0].ExpiresAt == nil || ps.Models[0].Size == 0 {
		t.Fatalf("ps: %s", b)
	}
	_, b = call(t, "GET", url+"/api/tags", nil)
	var tags struct {
		Models []listed `json:"models"`
	}
	json.Unmarshal(b, &tags)
	if len(tags.Models) != 1 || tags.Models[0].Details.Family != "llama" || tags.Models[0].Details.QuantizationLevel != "F32" {
		t.Fatalf("tags: %s", b)
	}
}

func TestShow(t *testing.T) {
	url := newTestServer(t, nil)
	st, b := call(t, "POST", url+"/api/show", map[string]any{"model": "acme/stories"})
	if st != 200 {
		t.Fatalf("status %d: %s", st, b)
	}
	var r struct {
		Details   details        `json:"details"`
		ModelInfo map[string]any `json:"model_info"`
	}
	json.Unmarshal(b, &r)
	if r.Details.Family != "llama" || r.ModelInfo["general.architecture"] != "llama" || r.ModelInfo["llama.embedding_length"] != float64(64) {
		t.Fatalf("show: %s", b)
	}
	if n, _ := r.ModelInfo["general.parameter_count"].(float64); n < 200e3 || n > 400e3 {
		t.Fatalf("parameter_count %v", r.ModelInfo["general.parameter_count"])
	}
}

func TestErrors(t *testing.T) {
	url := newTestServer(t, nil)
	for _, c := range []struct {
		path   string
		body   any
		status int
		says   string
	}{
		{"/api/generate", map[string]any{"model": "acme/none", "prompt": "x"}, 404, "not found"},
		{"/api/generate", map[string]any{"model": "nope", "prompt": "x"}, 400, "ORG/NAME"},
		{"/api/generate", `{"model": "acme/stories", "prompt": 3}`, 400, "prompt"},
		{"/api/generate", `{"model": "acme/stories"} trailing`, 400, "after the object"},
		{"/api/generate", map[string]any{"model": "acme/stories", "prompt": "x", "options": map[string]any{"temperature": -1}}, 400, "temperature"},
		{"/api/generate", map[string]any{"model": "acme/stories", "prompt": "x", "options": map[string]any{"top_k": "many"}}, 400, "top_k"},
		{"/api/generate", map[string]any{"model": "acme/stories", "prompt": "x", "format": "json"}, 400, "format"},
		{"/api/generate", map[string]any{"model": "acme/stories", "prompt": "x", "images": []string{"aGk="}}, 400, "images"},
		{"/api/chat", map[string]any{"model": "acme/stories", "messages": []map[string]string{{"content": "hi"}}}, 400, "role"},
		{"/api/show", map[string]any{"model": "acme/none"}, 404, "not found"},
		{"/api/pull", map[string]any{"model": "acme/stories"}, 501, "pull"},
		{"/api/embed", map[string]any{"model": "acme/stories", "input": "x"}, 400, "embedding"},
	} {
		st, b := call(t, "POST", url+c.path, c.body)
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || st != c.status || !strings.Contains(e.Error, c.says) {
			t.Errorf("%s %v: %d %s, want %d naming %q", c.path, c.body, st, b, c.status, c.says)
		}
	}
	// An empty prompt loads the model and says so.
	st, b := call(t, "POST", url+"/api/generate", map[string]any{"model": "acme/stories"})
	if st != 200 || !strings.Contains(string(b), `"done_reason":"load"`) {
		t.Fatalf("load: %d %s", st, b)
	}
}

func TestPull(t *testing.T) {
	url := newTestServer(t, fakePuller{})
	st, b := call(t, "POST", url+"/api/pull", map[string]any{"model": "acme/other:latest"})
	if st != 200 {
		t.Fatalf("status %d: %s", st, b)
	}
	ls := lines(t, b)
	if ls[0]["status"] != "pulling manifest" || ls[len(ls)-1]["status"] != "success" {
		t.Fatalf("pull lines %v", ls)
	}
	var sawDone bool
	for _, l := range ls {
		if l["completed"] == float64(400) && l["total"] == float64(400) {
			sawDone = true
		}
	}
	if !sawDone {
		t.Fatalf("no progress line with all bytes: %v", ls)
	}

	url = newTestServer(t, fakePuller{err: errors.New("no member holds acme/other")})
	_, b = call(t, "POST", url+"/api/pull", map[string]any{"model": "acme/other"})
	ls = lines(t, b)
	if ls[len(ls)-1]["error"] != "no member holds acme/other" {
		t.Fatalf("failed pull lines %v", ls)
	}
}

func TestNames(t *testing.T) {
	for name, id := range map[string]string{"acme/llama": "acme/llama", "acme/llama:latest": "acme/llama", "acme/llama:q4.gguf": "acme/llama/q4.gguf"} {
		got, err := ToID(name)
		if err != nil || got != id {
			t.Errorf("ToID(%q) = %q, %v; want %q", name, got, err, id)
		}
	}
	for _, bad := range []string{"", "llama", "a/b/c", "/b", "a/", "a/b:", "a/b:x:y", "a/b:../x", "a/..", "./b"} {
		if _, err := ToID(bad); err == nil {
			t.Errorf("ToID(%q) accepted", bad)
		}
	}
	if FromID("acme/llama") != "acme/llama:latest" || FromID("acme/llama/q4.gguf") != "acme/llama:q4.gguf" {
		t.Fatal("FromID")
	}
}

func FuzzToID(f *testing.F) {
	for _, s := range []string{"acme/llama", "acme/llama:latest", "a/b:c.gguf", "::", "a/b:../../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id, err := ToID(name)
		if err != nil {
			return
		}
		parts := strings.Split(id, "/")
		if len(parts) > 3 || slices.Contains(parts, "..") || slices.Contains(parts, ".") || slices.Contains(parts, "") {
			t.Fatalf("ToID(%q) = %q", name, id)
		}
		if back, err := ToID(FromID(id)); err != nil || back != id {
			t.Fatalf("round trip %q -> %q -> %q (%v)", id, FromID(id), back, err)
		}
	})
}
