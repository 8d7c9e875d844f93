package cli

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/internal/fixture"
)

// llama-perplexity's figure for the fixture model over story.txt with
// -c 128 (inference/perplexity_test.go holds the engine to it).
const llamaStoryPPL = 3.9964

func TestPerplexity(t *testing.T) {
	home, _ := runFixture(t)
	text := fixture.Path(t, "story.txt")
	code, out, errs := run(t, home, "perplexity", "acme/stories", text, "--ctx", "128", "--json")
	if code != 0 {
		t.Fatalf("perplexity --json: %d %s", code, errs)
	}
	var r struct {
		PPL    float64 `json:"ppl"`
		StdErr float64 `json:"stderr"`
		Chunks int     `json:"chunks"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if d := math.Abs(r.PPL-llamaStoryPPL) / llamaStoryPPL; d > 0.005 || r.StdErr <= 0 || r.Chunks < 1 {
		t.Fatalf("perplexity %+v, llama-perplexity %.4f", r, llamaStoryPPL)
	}
	code, out, errs = run(t, home, "perplexity", "acme/stories", text, "--chunks", "1")
	if code != 0 || !strings.HasPrefix(out, "Final estimate: PPL = ") || !strings.Contains(out, " +/- ") || !strings.Contains(errs, "[1/1] ") {
		t.Fatalf("perplexity --chunks 1: %d %q %q", code, out, errs)
	}
	if code, _, errs = run(t, home, "perplexity", "acme/none", text); code == 0 {
		t.Fatalf("perplexity of a missing model succeeded: %s", errs)
	}
}

// TestPerplexityAndBOMThroughDaemon: with a daemon running, perplexity,
// scan and bom are forwarded to it and give what they give without.
func TestPerplexityAndBOMThroughDaemon(t *testing.T) {
	home, _ := runFixture(t)
	addr := startDaemon(t, home)
	code, out, errs := run(t, home, "perplexity", "acme/stories", fixture.Path(t, "story.txt"), "--ctx", "128", "--json")
	var r struct {
		PPL float64 `json:"ppl"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || math.Abs(r.PPL-llamaStoryPPL)/llamaStoryPPL > 0.005 {
		t.Fatalf("perplexity through the daemon: %d %q %s", code, out, errs)
	}
	if code, out, errs = run(t, home, "scan", "acme/stories"); code != 0 || !strings.Contains(out, "0 unsafe, 0 unknown, 1 safe") {
		t.Fatalf("scan: %d %q %s", code, out, errs)
	}
	code, out, errs = run(t, home, "bom", "acme/stories")
	var doc struct {
		BomFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Components  []struct {
			Type string `json:"type"`
		} `json:"components"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc.BomFormat != "CycloneDX" || doc.SpecVersion != "1.6" {
		t.Fatalf("bom: %d %.300q %s", code, out, errs)
	}
	resp, err := http.Get("http://" + addr + "/api/models/acme/stories/bom")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"machine-learning-model"`) {
		t.Fatalf("GET bom: %d %.300s", resp.StatusCode, b)
	}
}
