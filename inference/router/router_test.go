package router

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/internal/httpauth"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

const policy = `
repos:
  - match: "acme/secret"
    hold: [DE]
    receive: [DE]
    prompts: [DE]
  - match: "acme/*"
    hold: ['*']
    receive: ['*']
    prompts: ['*']
`

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// keys: one bound to DE, one to FR, one unbound.
var keys = httpauth.Keys{{Token: "k-de", Jurisdiction: "DE"}, {Token: "k-fr", Jurisdiction: "FR"}, {Token: "k-any"}}

// audits collects the refusals the router records.
type audits struct {
	mu      sync.Mutex
	entries []sovereignty.Entry
}

func (a *audits) add(e sovereignty.Entry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
}

func (a *audits) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.entries)
}

// newNode serves a router without peers over a real store holding the
// fixture model as acme/stories and acme/secret, in front of a real OpenAI
// server (nil when serving is off), laid out as node lays out its routes.
func newNode(t *testing.T, serving bool) (url string, au *audits) {
	t.Helper()
	st, err := store.Open(store.Options{Dir: filepath.Join(t.TempDir(), "store")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for repo, file := range map[string]string{"acme/stories": fixture.Model, "acme/secret": fixture.Model, "acme/embed": "embed/bert-mini-f16.gguf"} {
		if _, err := ingest.Add(t.Context(), st, fixture.Path(t, file), ingest.AddOptions{Repo: repo}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := sovereignty.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	au = &audits{}
	deps := Deps{ID: "self", Self: &sovereignty.Member{PeerID: "self", Org: "acme", Jurisdiction: "DE"},
		Policy: p, Audit: au.add, Store: st, Keys: keys}
	mux := http.NewServeMux()
	if serving {
		var apiKeys []string
		for _, k := range keys {
			apiKeys = append(apiKeys, k.Token)
		}
		srv, err := openai.NewServer(models.New(st, filepath.Join(t.TempDir(), "models"), nil, quiet), openai.Config{APIKeys: apiKeys, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		deps.Local = srv
		mux.Handle("/v1/", srv)
	}
	r, err := New(Config{Logger: quiet}, deps)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("POST /v1/completions", r)
	mux.Handle("POST /v1/embeddings", r)
	mux.HandleFunc("GET /v1/models", r.ServeModels)
	mux.HandleFunc("GET /v1/models/{id...}", r.ServeModel)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs.URL, au
}

func do(t *testing.T, method, url, auth, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func ids(t *testing.T, body string) []string {
	t.Helper()
	var l struct {
		Data []openai.ModelObject `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatalf("model list %s: %v", body, err)
	}
	out := []string{}
	for _, m := range l.Data {
		out = append(out, m.ID)
	}
	slices.Sort(out)
	return out
}

const completion = `{"model":%q,"prompt":"Once upon a time","max_tokens":2,"temperature":0}`

// Keys are checked with a case-insensitive scheme; a key bound to a
// jurisdiction lists and uses only what the policy lets it receive, and a
// refusal is audited; the rest is served here.
func TestRouterKeys(t *testing.T) {
	url, au := newNode(t, true)
	for _, auth := range []string{"", "Bearer nope", "Basic k-any"} {
		if status, _, body := do(t, "GET", url+"/v1/models", auth, ""); status != 401 || !strings.Contains(body, "invalid_api_key") {
			t.Errorf("GET /v1/models with %q: %d %s, want 401 invalid_api_key", auth, status, body)
		}
	}
	for auth, want := range map[string][]string{
		"bearer k-any": {"acme/embed", "acme/secret", "acme/stories"},
		"Bearer k-de":  {"acme/embed", "acme/secret", "acme/stories"},
		"BEARER k-fr":  {"acme/embed", "acme/stories"},
	} {
		status, _, body := do(t, "GET", url+"/v1/models", auth, "")
		if got := ids(t, body); status != 200 || !slices.Equal(got, want) {
			t.Errorf("GET /v1/models with %q: %d %v, want %v", auth, status, got, want)
		}
	}
	before := au.count()
	status, _, body := do(t, "POST", url+"/v1/completions", "Bearer k-fr", strings.Replace(completion, "%q", `"acme/secret"`, 1))
	if status != 403 || !strings.Contains(body, `"code":"jurisdiction_refused"`) || !strings.Contains(body, "jurisdiction FR") {
		t.Errorf("FR key on acme/secret: %d %s, want 403 jurisdiction_refused", status, body)
	}
	if au.count() <= before {
		t.Error("the refusal was not audited")
	}
	if status, _, body := do(t, "GET", url+"/v1/models/acme/secret", "Bearer k-fr", ""); status != 403 {
		t.Errorf("GET /v1/models/acme/secret with the FR key: %d %s, want 403", status, body)
	}
	status, hdr, body := do(t, "POST", url+"/v1/completions", "bearer k-fr", strings.Replace(completion, "%q", `"acme/stories"`, 1))
	if status != 200 || hdr.Get(HeaderRoute) != "local" || hdr.Get(HeaderServedBy) != peer.ID("self").String() || !strings.Contains(body, `"text"`) {
		t.Errorf("FR key on acme/stories: %d route %q by %q %s, want a local 200", status, hdr.Get(HeaderRoute), hdr.Get(HeaderServedBy), body)
	}
}

// With local inference off and no member to forward to, a request gets
// 503 inference_disabled and the model list is empty.
func TestRouterDisabledWithoutPeers(t *testing.T) {
	url, _ := newNode(t, false)
	status, _, body := do(t, "POST", url+"/v1/completions", "Bearer k-any", strings.Replace(completion, "%q", `"acme/stories"`, 1))
	if status != 503 || !strings.Contains(body, `"code":"inference_disabled"`) {
		t.Errorf("POST with inference off: %d %s, want 503 inference_disabled", status, body)
	}
	status, _, body = do(t, "GET", url+"/v1/models", "Bearer k-any", "")
	if got := ids(t, body); status != 200 || len(got) != 0 {
		t.Errorf("GET /v1/models with inference off: %d %v, want an empty list", status, got)
	}
	if status, _, body := do(t, "GET", url+"/v1/models/acme/stories", "Bearer k-any", ""); status != 404 || !strings.Contains(body, "model_not_found") {
		t.Errorf("GET /v1/models/acme/stories with inference off: %d %s, want 404", status, body)
	}
}

// Embeddings go through the router as generations do: keys checked,
// jurisdiction bindings applied, served here with the route headers.
func TestRouterEmbeddings(t *testing.T) {
	url, _ := newNode(t, true)
	const embed = `{"model":%q,"input":["hello world","the quick brown fox"]}`
	if status, _, body := do(t, "POST", url+"/v1/embeddings", "", strings.Replace(embed, "%q", `"acme/embed"`, 1)); status != 401 {
		t.Errorf("without a key: %d %s, want 401", status, body)
	}
	if status, _, body := do(t, "POST", url+"/v1/embeddings", "Bearer k-fr", strings.Replace(embed, "%q", `"acme/secret"`, 1)); status != 403 || !strings.Contains(body, "jurisdiction_refused") {
		t.Errorf("FR key on acme/secret: %d %s, want 403 jurisdiction_refused", status, body)
	}
	status, hdr, body := do(t, "POST", url+"/v1/embeddings", "Bearer k-fr", strings.Replace(embed, "%q", `"acme/embed"`, 1))
	var a struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if status != 200 || hdr.Get(HeaderRoute) != "local" || json.Unmarshal([]byte(body), &a) != nil || len(a.Data) != 2 || len(a.Data[0].Embedding) != 128 {
		t.Errorf("FR key on acme/embed: %d route %q %.300s, want a local 200 with two 128-value embeddings", status, hdr.Get(HeaderRoute), body)
	}
	if status, _, body := do(t, "POST", url+"/v1/embeddings", "Bearer k-any", strings.Replace(embed, "%q", `"acme/stories"`, 1)); status != 400 || !strings.Contains(body, "model_not_embedding") {
		t.Errorf("chat model: %d %s, want 400 model_not_embedding", status, body)
	}
}
