package inference

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/internal/fixture"
)

// llama-perplexity's figures for the fixture model over testdata/story.txt
// with -c 128 (testdata/README.md gives the command): the final estimate
// and the running estimate after the first chunk.
const (
	llamaPPL      = 3.9964
	llamaPPLFirst = 2.0783
	llamaChunks   = 12
)

func TestPerplexityFixture(t *testing.T) {
	m, err := Open(fixture.Path(t, fixture.Model))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	text, err := os.ReadFile(fixture.Path(t, "story.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	var first float64
	r, err := m.Perplexity(t.Context(), string(text), PerplexityOptions{Context: 128, Progress: func(done, total int, ppl float64) {
		calls++
		if done != calls || ppl <= 1 || math.IsNaN(ppl) {
			t.Fatalf("progress %d/%d %v", done, total, ppl)
		}
		if done == 1 {
			first = ppl
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.Chunks != llamaChunks || r.Chunks != calls || r.Scored != r.Chunks*(128-64-1) || r.Tokens < 2*128 {
		t.Fatalf("result %+v after %d progress calls, want %d chunks", r, calls, llamaChunks)
	}
	// Within 0.5% of llama.cpp, as the two score the same tokens the same way.
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"final", r.PPL, llamaPPL}, {"first chunk", first, llamaPPLFirst}} {
		if d := math.Abs(c.got-c.want) / c.want; d > 0.005 {
			t.Errorf("%s perplexity %.4f, llama-perplexity %.4f (%.2f%% apart)", c.name, c.got, c.want, 100*d)
		}
	}
	if _, err := m.Perplexity(t.Context(), "Once upon a time", PerplexityOptions{Context: 128}); err == nil || !strings.Contains(err.Error(), "needs at least 256") {
		t.Errorf("a text too short: %v", err)
	}
}
