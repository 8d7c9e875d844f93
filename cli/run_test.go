package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/internal/fixture"
)

// runFixture returns a home holding the fixture model as acme/stories and
// llama.cpp's greedy 64-token continuation of "Once upon a time".
func runFixture(t *testing.T) (home, want string) {
	t.Helper()
	model := fixture.Path(t, fixture.Model)
	b, err := os.ReadFile(fixture.Path(t, fixture.Expected))
	if err != nil {
		t.Fatal(err)
	}
	_, out, ok := strings.Cut(string(b), "=== OUTPUT ===\n")
	if !ok {
		t.Fatal("no output marker in the expected file")
	}
	want, ok = strings.CutPrefix(strings.TrimRight(out, "\n"), " Once upon a time")
	if !ok {
		t.Fatalf("expected output %q does not start with the prompt", out)
	}
	home = filepath.Join(t.TempDir(), "home")
	if code, _, errs := run(t, home, "init"); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	if code, _, errs := run(t, home, "add", model, "--repo", "acme/stories"); code != 0 {
		t.Fatalf("add: %s", errs)
	}
	return home, want
}

type runJSON struct {
	Model             string  `json:"model"`
	Text              string  `json:"text"`
	FinishReason      string  `json:"finish_reason"`
	PromptTokens      int     `json:"prompt_tokens"`
	CompletionTokens  int     `json:"completion_tokens"`
	PrefillTokensPerS float64 `json:"prefill_tokens_per_s"`
	DecodeTokensPerS  float64 `json:"decode_tokens_per_s"`
}

func checkRunJSON(t *testing.T, out, want string) {
	t.Helper()
	var r runJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("run --json output %q: %v", out, err)
	}
	if r.Text != want {
		t.Errorf("text = %q\nwant %q", r.Text, want)
	}
	if r.Model != "acme/stories" || r.PromptTokens != 5 || r.CompletionTokens != 64 || r.FinishReason != "length" ||
		r.PrefillTokensPerS <= 0 || r.DecodeTokensPerS <= 0 {
		t.Errorf("run --json = %+v; want acme/stories, 5 prompt and 64 completion tokens, length, positive speeds", r)
	}
}

func TestRun(t *testing.T) {
	home, want := runFixture(t)
	code, out, errs := run(t, home, "run", "acme/stories", "Once upon a time", "--max-tokens", "64", "--temperature", "0", "--json")
	if code != 0 {
		t.Fatalf("run exit %d: %s", code, errs)
	}
	checkRunJSON(t, out, want)

	// Streaming to the terminal: the text and a newline; sampling with a
	// seed is repeatable.
	code, out, errs = run(t, home, "run", "acme/stories", "Once upon a time", "--max-tokens", "64", "--temperature", "0")
	if code != 0 || out != want+"\n" {
		t.Errorf("run exit %d, stdout %q (stderr %q); want %q", code, out, errs, want+"\n")
	}
	_, a, _ := run(t, home, "run", "acme/stories", "Once", "--max-tokens", "30", "--seed", "7", "--temperature", "1.2")
	_, b, _ := run(t, home, "run", "acme/stories", "Once", "--max-tokens", "30", "--seed", "7", "--temperature", "1.2")
	if a != b || a == "" {
		t.Errorf("same seed gave %q and %q", a, b)
	}
	// A presence penalty changes the greedy completion (the fixture's story
	// repeats itself without one).
	code, out, errs = run(t, home, "run", "acme/stories", "Once upon a time", "--max-tokens", "64", "--temperature", "0", "--presence-penalty", "2")
	if code != 0 || out == want+"\n" || out == "" {
		t.Errorf("--presence-penalty 2: exit %d, stdout %q (stderr %q); want a completion other than %q", code, out, errs, want)
	}
	code, out, _ = run(t, home, "run", "acme/stories", "Once upon a time", "--max-tokens", "64", "--temperature", "0", "--stop", "Lily", "--chat")
	if code != 0 || strings.Contains(out, "Lily") {
		t.Errorf("--chat --stop Lily: exit %d, %q", code, out)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown model", []string{"run", "acme/nope", "hi"}, "acme/nope"},
		{"no prompt", []string{"run", "acme/stories"}, "PROMPT"},
		{"bad temperature", []string{"run", "acme/stories", "hi", "--temperature", "-1"}, "emperature"},
		{"bad id", []string{"run", "stories", "hi"}, "ORG/NAME"},
		{"bad frequency penalty", []string{"run", "acme/stories", "hi", "--frequency-penalty", "3"}, "frequency_penalty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := run(t, home, tt.args...)
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Errorf("%v: exit %d, stderr %q; want failure naming %q", tt.args, code, errs, tt.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe to read while the daemon writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon runs `cairn daemon` on home until the test ends and returns
// its HTTP address.
func startDaemon(t *testing.T, home string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var derr syncBuffer
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		Run(ctx, []string{"cairn", "--home", home, "daemon", "--http", "127.0.0.1:0"}, io.Discard, &derr)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	// A daemon starts in well under a second on an idle machine; a loaded
	// two-core CI machine may take many, so the bound is generous.
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, rest, ok := strings.Cut(derr.String(), ", http://"); ok {
			addr, _, _ := strings.Cut(rest, "\n")
			return addr
		}
		select {
		case <-tick.C:
		case <-exited:
			t.Fatalf("daemon exited before it served: %s", derr.String())
		case <-deadline.C:
			t.Fatalf("daemon did not start within a minute: %s", derr.String())
		}
	}
}

// TestRunThroughDaemon: with a daemon running, `cairn run` is forwarded to
// it and uses the daemon's OpenAI server, which /v1/ serves too.
func TestRunThroughDaemon(t *testing.T) {
	home, want := runFixture(t)
	addr := startDaemon(t, home)
	code, out, errs := run(t, home, "run", "acme/stories", "Once upon a time", "--max-tokens", "64", "--temperature", "0", "--json")
	if code != 0 {
		t.Fatalf("run through the daemon: exit %d: %s", code, errs)
	}
	checkRunJSON(t, out, want)

	// The daemon loaded the model for run; the HTTP API lists it and
	// answers with the same text.
	body := `{"model":"acme/stories","prompt":"Once upon a time","max_tokens":64,"temperature":0}`
	resp, err := http.Post("http://"+addr+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Choices []struct {
			Text string `json:"text"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 || len(r.Choices) != 1 || r.Choices[0].Text != want {
		t.Errorf("POST /v1/completions: status %d, %+v, %v; want %q", resp.StatusCode, r, err, want)
	}
	// Each loaded model has one queue line per state in the metrics.
	mresp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	mb, _ := io.ReadAll(mresp.Body)
	if n := strings.Count(string(mb), `cairn_inference_queue_length{model="acme/stories",state="waiting"}`); n != 1 {
		t.Errorf("daemon metrics name acme/stories loaded %d times, want 1", n)
	}
	if n := strings.Count(string(mb), `cairn_inference_queue_length{model=`); n != 2 {
		t.Errorf("daemon metrics have %d queue lines, want 2 (one model loaded)", n)
	}
}
