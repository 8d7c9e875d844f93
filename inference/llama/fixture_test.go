package llama

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/internal/fixture"
)

// expectedIDs parses the prompt and generated token ids from the llama.cpp
// oracle file.
func expectedIDs(t *testing.T) (prompt, gen []int32) {
	t.Helper()
	b, err := os.ReadFile(fixture.Path(t, fixture.Expected))
	if err != nil {
		t.Fatal(err)
	}
	parse := func(label string) []int32 {
		re := regexp.MustCompile(`(?m)^# ` + regexp.QuoteMeta(label) + `.*\n?(?:# )?\[([0-9, ]+)\]`)
		mm := re.FindSubmatch(b)
		if mm == nil {
			t.Fatalf("no %q line in the expected file", label)
		}
		var ids []int32
		for _, f := range strings.Split(string(mm[1]), ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, int32(v))
		}
		return ids
	}
	return parse("Prompt token ids"), parse("Generated token ids")
}

func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// TestFixtureGreedy checks token-level greedy generation against llama.cpp's.
func TestFixtureGreedy(t *testing.T) {
	prompt, want := expectedIDs(t)
	f, err := gguf.Open(fixture.Path(t, fixture.Model))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	// llama.cpp ran with its default F16 KV cache; the F32 cache must give
	// the same tokens too.
	for _, tc := range []struct {
		kv    KVType
		batch int
	}{{KVF16, 1}, {KVF16, 3}, {KVF16, 64}, {KVF32, 1}, {KVF32, 64}} {
		batch := tc.batch
		m.KVType = tc.kv
		s := m.NewState(m.ContextLength, batch)
		logits, err := s.Forward(prompt)
		if err != nil {
			t.Fatal(err)
		}
		var got []int32
		for len(got) < len(want) {
			tok := argmax(logits)
			got = append(got, tok)
			if logits, err = s.Forward([]int32{tok}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("kv %v, batch %d: generated ids = %v\nwant %v (first difference at %d)", tc.kv, batch, got, want, i)
				break
			}
		}
	}
}
