package node

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"testing"

	"github.com/cairnhub/cairn/inference/router"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/replicate"
)

// An edge with local inference off forwards /v1/embeddings, and Ollama's
// /api/embed through its router, to a member serving the embedding model;
// the vectors are llama.cpp's (testdata/embed).
func TestForwardEmbeddings(t *testing.T) {
	needFixture(t)
	b, err := os.ReadFile(fixture.Path(t, "embed/bert-mini-f16.llama.json"))
	if err != nil {
		t.Fatal(err)
	}
	var golden []struct {
		Prompt    string    `json:"prompt"`
		Embedding []float32 `json:"embedding"`
	}
	if err := json.Unmarshal(b, &golden); err != nil || len(golden) == 0 {
		t.Fatalf("golden: %v", err)
	}
	c := newTestCluster(t, replicate.Config{Disabled: true})
	de := startInfer(t, c.nodes, c.add("de", "DE", "mirror"), true, router.Config{}, nil)
	edge := startInfer(t, c.nodes, c.add("edge", "DE", "mirror"), false, router.Config{}, nil)
	c.waitMesh()
	c.setPolicy(de.testNode, promptsDE, 1)
	if _, err := ingest.Add(t.Context(), de.n.Store, fixture.Path(t, "embed/bert-mini-f16.gguf"), ingest.AddOptions{Repo: "acme/embed"}); err != nil {
		t.Fatal(err)
	}
	near := func(got []float32) bool {
		want := golden[0].Embedding
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-4 {
				return false
			}
		}
		return true
	}
	post := func(path string, body any) (*http.Response, []byte) {
		j, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, edge.url+path, bytes.NewReader(j))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp, out
	}
	resp, body := post("/v1/embeddings", map[string]any{"model": "acme/embed", "input": golden[0].Prompt, "encoding_format": "float"})
	var a struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &a) != nil || len(a.Data) != 1 || !near(a.Data[0].Embedding) {
		t.Fatalf("edge /v1/embeddings: %d %.300s", resp.StatusCode, body)
	}
	if r, by := resp.Header.Get(router.HeaderRoute), resp.Header.Get(router.HeaderServedBy); r != "forwarded" || by != de.id() {
		t.Errorf("route %q by %s, want forwarded by de %s", r, by, de.id())
	}
	resp, body = post("/api/embed", map[string]any{"model": "acme/embed", "input": []string{golden[0].Prompt}})
	var o struct {
		Embeddings [][]float32 `json:"embeddings"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &o) != nil || len(o.Embeddings) != 1 || !near(o.Embeddings[0]) {
		t.Errorf("edge /api/embed: %d %.300s", resp.StatusCode, body)
	}
}
