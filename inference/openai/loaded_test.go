package openai

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/inference"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// threeModels copies the fixture to three files, so that acme/a, acme/b
// and acme/c are three models (slots are per file).
func threeModels(t *testing.T) Files {
	t.Helper()
	src, _ := fixture(t)
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := Files{}
	for _, name := range []string{"a", "b", "c"} {
		p := filepath.Join(dir, name+".gguf")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files["acme/"+name] = p
	}
	return files
}

// newLoadedServer serves the three models over HTTP on 127.0.0.1; the
// log goes to the returned buffer.
func newLoadedServer(t *testing.T, cfg Config) (*Server, string, *syncBuffer) {
	t.Helper()
	files := threeModels(t)
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := NewServer(files, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close() // waits for every handler: none may be left running
		s.Close()
	})
	return s, ts.URL, logs
}

func loadedIDs(s *Server) []string {
	var ids []string
	for _, l := range s.Loaded() {
		if !l.Pending {
			ids = append(ids, l.ID)
		}
	}
	return ids
}

func complete(t *testing.T, url, model string) {
	t.Helper()
	resp, body := post(t, url+"/v1/completions", map[string]any{"model": model, "prompt": testPrompt, "max_tokens": 2, "temperature": 0})
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d: %s", model, resp.StatusCode, body)
	}
}

// hold starts a generation of model whose first emitted piece blocks until
// the returned release is called: the model stays busy, as under a slow
// streaming client. done receives Generate's error.
func hold(t *testing.T, s *Server, model string) (release func(), done <-chan error) {
	t.Helper()
	started := make(chan struct{})
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	errc := make(chan error, 1)
	go func() {
		var first sync.Once
		_, err := s.Generate(t.Context(), Generation{Model: model, Request: inference.Request{Prompt: testPrompt, MaxTokens: 8}}, func(string) error {
			first.Do(func() { close(started) })
			select {
			case <-gate:
			case <-t.Context().Done():
			}
			return nil
		})
		errc <- err
	}()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("%s: generation ended before emitting: %v", model, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: generation did not start", model)
	}
	return release, errc
}

func within(t *testing.T, what string, c <-chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(d):
		t.Fatalf("%s: not done within %v", what, d)
		return nil
	}
}

// TestMaxLoadedEvictsLRU: with room for two, a third model unloads the
// least recently used one.
func TestMaxLoadedEvictsLRU(t *testing.T) {
	s, url, logs := newLoadedServer(t, Config{MaxLoaded: 2})
	complete(t, url, "acme/a")
	complete(t, url, "acme/b")
	complete(t, url, "acme/c")
	if got := loadedIDs(s); !slices.Equal(got, []string{"acme/b", "acme/c"}) {
		t.Fatalf("after a, b, c: loaded %v, want acme/b and acme/c (a least recently used)", got)
	}
	if o := s.Occupancy(); o.Models != 2 || o.MaxModels != 2 || o.Pending != 0 || o.Bytes <= 0 {
		t.Errorf("occupancy = %+v, want 2 of 2 models, their bytes, none pending", o)
	}
	if l := logs.String(); !strings.Contains(l, `msg="model unloaded" model=acme/a reason=max_loaded for=acme/c`) {
		t.Errorf("no eviction of acme/a logged:\n%s", l)
	}
	// Use, not load order: b used again, so a (reloaded) evicts c.
	complete(t, url, "acme/b")
	complete(t, url, "acme/a")
	if got := loadedIDs(s); !slices.Equal(got, []string{"acme/a", "acme/b"}) {
		t.Errorf("after b, a: loaded %v, want acme/a and acme/b", got)
	}
	if n := len(s.Loaded()); n != 2 {
		t.Errorf("%d slots, want 2", n)
	}
}

// TestMaxLoadedBusyNotEvicted: busy models are never unloaded; the request
// for a third model waits until one is idle, then evicts that one.
func TestMaxLoadedBusyNotEvicted(t *testing.T) {
	s, url, _ := newLoadedServer(t, Config{MaxLoaded: 2})
	releaseA, doneA := hold(t, s, "acme/a")
	releaseB, doneB := hold(t, s, "acme/b")

	type reply struct {
		status int
		body   []byte
	}
	cDone := make(chan reply, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/completions",
			strings.NewReader(`{"model":"acme/c","prompt":"Once upon a time","max_tokens":2,"stream":true}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cDone <- reply{0, []byte(err.Error())}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cDone <- reply{resp.StatusCode, body}
	}()
	waitFor(t, "acme/c to wait for room", func() bool { return s.Occupancy().Pending == 1 })
	select {
	case r := <-cDone:
		t.Fatalf("acme/c answered %d while both loaded models were busy: %s", r.status, r.body)
	case <-time.After(100 * time.Millisecond):
	}
	if got := loadedIDs(s); !slices.Equal(got, []string{"acme/a", "acme/b"}) {
		t.Fatalf("while busy: loaded %v, want acme/a and acme/b", got)
	}
	for _, l := range s.Loaded() {
		if l.ID == "acme/c" && (!l.Pending || !l.Busy || l.Info.Arch != "") {
			t.Errorf("acme/c = %+v, want pending (its request holds the turn), not loaded", l)
		}
	}

	releaseA()
	if err := within(t, "acme/a", doneA, 10*time.Second); err != nil {
		t.Fatalf("acme/a: %v", err)
	}
	var r reply
	select {
	case r = <-cDone:
	case <-time.After(10 * time.Second):
		t.Fatal("acme/c still waiting after acme/a went idle")
	}
	if r.status != 200 || !strings.Contains(string(r.body), "[DONE]") {
		t.Fatalf("acme/c: %d %s", r.status, r.body)
	}
	// b, still busy, stayed; a, idle, made room.
	if got := loadedIDs(s); !slices.Equal(got, []string{"acme/b", "acme/c"}) {
		t.Errorf("after acme/c: loaded %v, want acme/b and acme/c", got)
	}
	releaseB()
	if err := within(t, "acme/b", doneB, 10*time.Second); err != nil {
		t.Fatalf("acme/b (never evicted under its generation): %v", err)
	}
}

// TestMaxLoadedWaitCancelled: a request waiting for room whose client goes
// away stops waiting at once and leaves nothing behind.
func TestMaxLoadedWaitCancelled(t *testing.T) {
	s, url, _ := newLoadedServer(t, Config{MaxLoaded: 1})
	release, doneA := hold(t, s, "acme/a")

	// Over HTTP: the client cancels.
	ctx, cancel := context.WithCancel(t.Context())
	httpDone := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/completions",
			strings.NewReader(`{"model":"acme/b","prompt":"Once upon a time","max_tokens":2}`))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			err = errors.New("answered " + resp.Status)
		}
		httpDone <- err
	}()
	waitFor(t, "acme/b to wait for room", func() bool { return s.Occupancy().Pending == 1 })
	cancel()
	if err := within(t, "the cancelled client", httpDone, 2*time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled client: %v, want context.Canceled", err)
	}
	waitFor(t, "the server to drop acme/b's wait", func() bool {
		l := s.Loaded()
		return len(l) == 1 && l[0].ID == "acme/a" && s.Occupancy().Pending == 0
	})

	// Directly: Generate returns the context's error promptly.
	ctx2, cancel2 := context.WithCancel(t.Context())
	genDone := make(chan error, 1)
	go func() {
		_, err := s.Generate(ctx2, Generation{Model: "acme/c", Request: inference.Request{Prompt: testPrompt, MaxTokens: 2}}, nil)
		genDone <- err
	}()
	waitFor(t, "acme/c to wait for room", func() bool { return s.Occupancy().Pending == 1 })
	start := time.Now()
	cancel2()
	if err := within(t, "the cancelled Generate", genDone, 2*time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Generate: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancelled Generate took %v to return", d)
	}
	if l := s.Loaded(); len(l) != 1 || l[0].ID != "acme/a" || s.Occupancy().Pending != 0 {
		t.Errorf("after the cancel: loaded %+v, occupancy %+v; want acme/a alone, nothing pending", l, s.Occupancy())
	}

	// Nothing is stuck: once a is idle, b loads in its place.
	release()
	if err := within(t, "acme/a", doneA, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	complete(t, url, "acme/b")
	if got := loadedIDs(s); !slices.Equal(got, []string{"acme/b"}) {
		t.Errorf("loaded %v, want acme/b", got)
	}
}

// TestMaxLoadedQueueFull: requests for a model waiting for room queue in
// its queue; past Config.Queue they get the usual 503.
func TestMaxLoadedQueueFull(t *testing.T) {
	s, url, _ := newLoadedServer(t, Config{MaxLoaded: 1, Queue: 1, Engine: inference.Config{Parallel: 1}})
	release, doneA := hold(t, s, "acme/a")
	results := make(chan int, 2)
	for range 2 {
		go func() {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/completions",
				strings.NewReader(`{"model":"acme/b","prompt":"Once upon a time","max_tokens":2}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	waitFor(t, "one acme/b request waiting for room and one queued behind it", func() bool {
		for _, l := range s.Loaded() {
			if l.ID == "acme/b" {
				return l.Pending && l.Busy && l.Waiting == 1
			}
		}
		return false
	})
	resp, body := post(t, url+"/v1/completions", map[string]any{"model": "acme/b", "prompt": "x", "max_tokens": 1})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"queue_full"`) {
		t.Errorf("third acme/b request: %d %s, want 503 queue_full", resp.StatusCode, body)
	}
	release()
	if err := within(t, "acme/a", doneA, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case st := <-results:
			if st != 200 {
				t.Errorf("queued acme/b request: status %d", st)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("queued acme/b request not answered")
		}
	}
}

// TestMaxMemory: the memory cap evicts like MaxLoaded, counting weights and
// a KV cache per place in the batch, and a model too large for it alone is
// refused.
func TestMaxMemory(t *testing.T) {
	path, _ := fixture(t)
	est := estimateBytes(path, inference.Config{})
	m, err := inference.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	m.Close()
	real := info.WeightBytes + int64(info.Parallel)*info.KVCacheBytes
	if info.Parallel != inference.DefaultParallel || est < real || est > real+real/4 {
		t.Fatalf("estimate %d for a model of %d bytes (weights %d, KV cache %d)", est, real, info.WeightBytes, info.KVCacheBytes)
	}

	s, url, logs := newLoadedServer(t, Config{MaxMemory: 2*est + est/2})
	complete(t, url, "acme/a")
	complete(t, url, "acme/b")
	complete(t, url, "acme/c")
	if got := loadedIDs(s); !slices.Equal(got, []string{"acme/b", "acme/c"}) {
		t.Fatalf("loaded %v, want acme/b and acme/c", got)
	}
	if o := s.Occupancy(); o.Models != 2 || o.Bytes != 2*real || o.MaxModels != DefaultMaxLoaded {
		t.Errorf("occupancy %+v, want 2 models of %d bytes, max 3", o, real)
	}
	if l := logs.String(); !strings.Contains(l, `model=acme/a reason=max_memory`) {
		t.Errorf("no max_memory eviction of acme/a logged:\n%s", l)
	}

	small, url2, _ := newLoadedServer(t, Config{MaxMemory: est / 2})
	resp, body := post(t, url2+"/v1/completions", map[string]any{"model": "acme/a", "prompt": "x", "max_tokens": 1})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"model_too_large"`) {
		t.Errorf("model larger than max_memory: %d %s, want 503 model_too_large", resp.StatusCode, body)
	}
	if l := small.Loaded(); len(l) != 0 {
		t.Errorf("loaded %+v after a refused model", l)
	}
}

func TestMaxLoadedValidate(t *testing.T) {
	err := Config{MaxLoaded: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "max_loaded") {
		t.Errorf("Validate(MaxLoaded -1) = %v, want an error naming max_loaded", err)
	}
	if _, err := NewServer(Files{}, Config{MaxLoaded: -1}); err == nil {
		t.Error("NewServer accepted MaxLoaded -1")
	}
	if err := (Config{MaxMemory: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "max_memory") {
		t.Errorf("Validate(MaxMemory -1) = %v, want an error naming max_memory", err)
	}
	s, err := NewServer(Files{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if o := s.Occupancy(); o.MaxModels != 3 || o.MaxBytes != 0 {
		t.Errorf("default occupancy %+v, want at most 3 models, no memory cap", o)
	}
}
