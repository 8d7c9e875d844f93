package inference

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairnhub/cairn/internal/fixture"
)

// TestSlidingRingPrefixReuse runs two requests through one session of the
// gemma3 file of testdata/arch (sliding window 32, so its sliding layers
// keep rings of 32+8-1 positions): the second shares the first's opening
// but not its last positions, which the rings have overwritten, so it
// must be computed afresh. Its tokens must equal those of the same request
// in a new session; the request then sharing the whole prompt reuses it.
func TestSlidingRingPrefixReuse(t *testing.T) {
	path := fixture.Path(t, filepath.Join("arch", "gemma3-mini-f16.gguf"))
	cfg := Config{ContextLength: 200, Batch: 8}
	m, err := OpenConfig(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prompt := make([]int32, 150)
	for i := range prompt {
		prompt[i] = int32(3 + i*131%500)
	}
	second := append(slices.Clone(prompt[:100]), 7, 8, 9, 10, 11)
	ctx := context.Background()
	run := func(s *Session, toks []int32) Result {
		t.Helper()
		res, err := s.Generate(ctx, Request{Tokens: toks, MaxTokens: 6, IgnoreEOS: true}, func(string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	s := m.NewSession()
	run(s, prompt)
	got := run(s, second)
	if got.CachedTokens != 0 {
		t.Errorf("second request reused %d positions the rings no longer hold", got.CachedTokens)
	}
	want := run(m.NewSession(), second)
	if !slices.Equal(got.Tokens, want.Tokens) {
		t.Errorf("after a ring-dropped prefix: %v, fresh session %v", got.Tokens, want.Tokens)
	}
	again := run(s, second)
	if again.CachedTokens != len(second)-1 || !slices.Equal(again.Tokens, want.Tokens) {
		t.Errorf("same prompt again: cached %d (want %d), tokens %v, want %v", again.CachedTokens, len(second)-1, again.Tokens, want.Tokens)
	}
}
