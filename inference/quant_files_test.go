package inference

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/internal/fixture"
)

// TestQuantFilesThroughEngine opens the llama-quantize files of the trained
// stories model (testdata/quant: every K-quant tensor in its fallback type)
// the way `cairn run` does, tokenizes llama.cpp's prompt and checks the
// greedy ids and text against llama.cpp's, as testdata/quant/README.md
// records them (llama-simple prints "<s>" for the BOS token).
func TestQuantFilesThroughEngine(t *testing.T) {
	b, err := os.ReadFile(fixture.Path(t, filepath.Join("quant", "README.md")))
	if err != nil {
		t.Fatal(err)
	}
	sec := regexp.MustCompile("(?m)^### `(stories260K-[^`]+)`\n")
	genRe := regexp.MustCompile(`(?m)^generated ids: \[([0-9, ]+)\]\n`)
	locs := sec.FindAllSubmatchIndex(b, -1)
	if len(locs) < 5 {
		t.Fatalf("README has %d stories260K sections, want 5", len(locs))
	}
	const prompt = "Once upon a time"
	for _, l := range locs {
		name := string(b[l[2]:l[3]])
		body := b[l[1]:]
		if next := regexp.MustCompile("(?m)^### ").FindIndex(body); next != nil {
			body = body[:next[0]]
		}
		t.Run(name, func(t *testing.T) {
			gm := genRe.FindSubmatchIndex(body)
			if gm == nil {
				t.Fatal("no generated ids")
			}
			var want []int32
			for _, f := range strings.Split(string(body[gm[2]:gm[3]]), ",") {
				v, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, int32(v))
			}
			// The text: the indented lines after the ids, indent removed.
			var lines []string
			for _, ln := range strings.Split(string(body[gm[1]:]), "\n") {
				if s, ok := strings.CutPrefix(ln, "    "); ok {
					lines = append(lines, s)
				}
			}
			wantText := strings.Join(lines, "\n")

			m, err := Open(fixture.Path(t, filepath.Join("quant", name)))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ids := m.PromptTokens(Request{Prompt: prompt})
			if want := []int32{1, 403, 407, 261, 378}; !reflect.DeepEqual(ids, want) {
				t.Fatalf("prompt ids = %v, want %v", ids, want)
			}
			res, err := m.Generate(t.Context(), Request{Prompt: prompt, MaxTokens: len(want)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Tokens, want) {
				t.Errorf("generated ids = %v\nwant %v", res.Tokens, want)
			}
			if got := "<s> " + prompt + res.Text; strings.TrimRight(got, "\n ") != wantText {
				t.Errorf("text = %q\nwant %q", got, wantText)
			}
		})
	}
}
