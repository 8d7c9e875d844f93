package node

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/config"
	"github.com/cairnhub/cairn/inference/router"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/sovereignty"
)

func ollamaCall(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestOllamaKeysAndJurisdiction: the Ollama API on a daemon takes the
// HTTP API's keys; a key bound to a jurisdiction the policy does not let
// receive the repo neither lists nor runs its model (audited), an
// unbound one runs it through the router.
func TestOllamaKeysAndJurisdiction(t *testing.T) {
	model := needFixture(t)
	c := newTestCluster(t, fastReplication)
	a := c.add("a", "DE", "mirror")
	c.setPolicy(a, promptsDE, 1)
	a.n.Config.HTTP.Tokens = []config.HTTPToken{{Token: "any"}, {Token: "us", Jurisdiction: "US"}}
	if _, err := ingest.Add(t.Context(), a.n.Store, model, ingest.AddOptions{Repo: "acme/stories"}); err != nil {
		t.Fatal(err)
	}
	url := startInfer(t, c.nodes, a, true, router.Config{}, nil).url

	if code, _ := ollamaCall(t, "GET", url+"/api/tags", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("no key: %d", code)
	}
	_, tags := ollamaCall(t, "GET", url+"/api/tags", "any", "")
	if !strings.Contains(tags, `"acme/stories:latest"`) {
		t.Fatalf("tags with an unbound key: %s", tags)
	}
	if _, tags := ollamaCall(t, "GET", url+"/api/tags", "us", ""); strings.Contains(tags, "acme/stories") {
		t.Fatalf("tags with a key bound to US list acme/stories: %s", tags)
	}
	gen := `{"model":"acme/stories","prompt":"Once upon a time","raw":true,"stream":false,"options":{"temperature":0,"num_predict":8}}`
	if code, body := ollamaCall(t, "POST", url+"/api/generate", "us", gen); code != http.StatusForbidden || !strings.Contains(body, "jurisdiction") {
		t.Fatalf("generate with a key bound to US: %d %s", code, body)
	}
	if len(auditEntries(t, a, sovereignty.KindDeny)) == 0 {
		t.Fatal("the refusal is not audited")
	}
	code, body := ollamaCall(t, "POST", url+"/api/generate", "any", gen)
	var r struct {
		Response  string `json:"response"`
		Done      bool   `json:"done"`
		EvalCount int    `json:"eval_count"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || !r.Done || r.EvalCount != 8 || r.Response == "" {
		t.Fatalf("generate: %d %s", code, body)
	}
}
