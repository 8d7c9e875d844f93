package cli

import (
	"encoding/json"
	"math"
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
