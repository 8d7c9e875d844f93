package inference

import (
	"math"
	"os"
	"testing"

	"github.com/cairnhub/cairn/internal/fixture"
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
	r, err := m.Perplexity(t.Context(), string(text), PerplexityOptions{Context: 128, Progress: func(done, total int, ppl float64) {
		calls++
		if done != calls || ppl <= 1 || math.IsNaN(ppl) {
			t.Fatalf("progress %d/%d %v", done, total, ppl)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.Chunks != calls || r.Scored != r.Chunks*(128-64-1) || r.Tokens < 2*128 {
		t.Fatalf("result %+v after %d progress calls", r, calls)
	}
}
