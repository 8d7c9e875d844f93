package sample

import (
	"math"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name string
		p    Params
		want string // substring of the error; "" = valid
	}{
		{"zero is greedy", Params{}, ""},
		{"typical", Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: 1}, ""},
		{"top_p 1", Params{TopP: 1}, ""},
		{"whole history", Params{RepeatLastN: -1}, ""},
		{"negative temperature", Params{Temperature: -0.1}, "temperature"},
		{"NaN temperature", Params{Temperature: nan}, "temperature"},
		{"negative top_k", Params{TopK: -1}, "top_k"},
		{"top_p above 1", Params{TopP: 1.5}, "top_p"},
		{"negative top_p", Params{TopP: -0.5}, "top_p"},
		{"min_p above 1", Params{MinP: 2}, "min_p"},
		{"negative penalty", Params{RepeatPenalty: -1}, "repeat_penalty"},
		{"repeat_last_n -2", Params{RepeatLastN: -2}, "repeat_last_n"},
		{"frequency_penalty -2", Params{FrequencyPenalty: -2}, ""},
		{"presence_penalty 2", Params{PresencePenalty: 2}, ""},
		{"frequency_penalty 3", Params{FrequencyPenalty: 3}, "frequency_penalty"},
		{"frequency_penalty NaN", Params{FrequencyPenalty: nan}, "frequency_penalty"},
		{"presence_penalty -2.5", Params{PresencePenalty: -2.5}, "presence_penalty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate(%+v) = %v, want nil", tc.p, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate(%+v) = %v, want an error about %s", tc.p, err, tc.want)
			}
		})
	}
}

func logitsFrom(seed uint64, n int) []float32 {
	l := make([]float32, n)
	x := seed*6364136223846793005 + 1442695040888963407
	for i := range l {
		x = x*6364136223846793005 + 1442695040888963407
		l[i] = float32(int64(x>>33)%2000)/100 - 10
	}
	return l
}

func argmaxRef(l []float32) int32 {
	best := 0
	for i, v := range l {
		if v > l[best] {
			best = i
		}
	}
	return int32(best)
}

func TestGreedyIsArgmax(t *testing.T) {
	s := New(Params{})
	for seed := range uint64(20) {
		l := logitsFrom(seed, 1000)
		orig := append([]float32(nil), l...)
		if got, want := s.Sample(l, nil), argmaxRef(l); got != want {
			t.Errorf("greedy Sample(logits %d) = %d, want %d", seed, got, want)
		}
		for i := range l {
			if l[i] != orig[i] {
				t.Fatalf("Sample modified logits[%d]: %v -> %v", i, orig[i], l[i])
			}
		}
	}
	if got := s.Sample([]float32{1, 3, 3, 2}, nil); got != 1 {
		t.Errorf("greedy Sample(tie 1,3,3,2) = %d, want 1 (lowest id)", got)
	}
	if got := s.Sample(nil, nil); got != -1 {
		t.Errorf("Sample(nil) = %d, want -1", got)
	}
}

func TestTopK1IsGreedy(t *testing.T) {
	s := New(Params{Temperature: 1.5, TopK: 1, Seed: 7})
	for seed := range uint64(50) {
		l := logitsFrom(seed, 300)
		if got, want := s.Sample(l, nil), argmaxRef(l); got != want {
			t.Errorf("top-k 1 Sample(logits %d) = %d, want %d", seed, got, want)
		}
	}
}

func TestSeedReproducible(t *testing.T) {
	p := Params{Temperature: 1, TopK: 50, TopP: 0.9, MinP: 0.01, RepeatPenalty: 1.1, Seed: 42}
	draw := func(p Params) []int32 {
		s := New(p)
		var hist []int32
		for i := range 200 {
			id := s.Sample(logitsFrom(uint64(i), 500), hist)
			hist = append(hist, id)
		}
		return hist
	}
	a, b := draw(p), draw(p)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed: draw %d = %d then %d", i, a[i], b[i])
		}
	}
	p.Seed = 43
	c := draw(p)
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Errorf("seeds 42 and 43 gave the same %d ids", len(a))
	}
}

// Draw counts follow the softmax within statistical bounds.
func TestDistribution(t *testing.T) {
	logits := []float32{0, float32(math.Log(2)), float32(math.Log(3)), float32(math.Log(4))} // p = .1 .2 .3 .4
	const n = 20000
	tests := []struct {
		name string
		p    Params
		want []float64
	}{
		{"temperature 1", Params{Temperature: 1, Seed: 1}, []float64{.1, .2, .3, .4}},
		{"top-k 2", Params{Temperature: 1, TopK: 2, Seed: 2}, []float64{0, 0, 3. / 7, 4. / 7}},
		{"top-p 0.65", Params{Temperature: 1, TopP: 0.65, Seed: 3}, []float64{0, 0, 3. / 7, 4. / 7}},
		{"min-p 0.5", Params{Temperature: 1, MinP: 0.5, Seed: 4}, []float64{0, .2 / .9, .3 / .9, .4 / .9}},
		{"temperature 0.5", Params{Temperature: 0.5, Seed: 5}, []float64{1. / 30, 4. / 30, 9. / 30, 16. / 30}},
		// Top-p judges the temperature-1 probabilities (.3+.4 >= .65), the
		// temperature then reweighs the survivors: sqrt(.3) : sqrt(.4).
		{"top-p 0.65 then temperature 2", Params{Temperature: 2, TopP: 0.65, Seed: 6},
			[]float64{0, 0, math.Sqrt(.3) / (math.Sqrt(.3) + math.Sqrt(.4)), math.Sqrt(.4) / (math.Sqrt(.3) + math.Sqrt(.4))}},
		{"min-p 0.5 then temperature 0.5", Params{Temperature: 0.5, MinP: 0.5, Seed: 7}, []float64{0, 4. / 29, 9. / 29, 16. / 29}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.p)
			counts := make([]int, len(logits))
			for range n {
				counts[s.Sample(logits, nil)]++
			}
			for i, w := range tc.want {
				got := float64(counts[i]) / n
				// 5 standard deviations of a binomial proportion, at least 0.002
				tol := 5*math.Sqrt(w*(1-w)/n) + 0.002
				if math.Abs(got-w) > tol {
					t.Errorf("P(%d) = %.4f, want %.4f ± %.4f (counts %v)", i, got, w, tol, counts)
				}
			}
		})
	}
}

func TestRepeatPenalty(t *testing.T) {
	s := New(Params{RepeatPenalty: 2, RepeatLastN: 2})
	logits := []float32{1, 1.5, -1, 1.2}
	tests := []struct {
		hist []int32
		want int32
	}{
		{nil, 1},
		{[]int32{1}, 3},          // 1.5/2 = 0.75 < 1.2
		{[]int32{1, 3}, 0},       // 0.75, 0.6 < 1
		{[]int32{1, 3, 0, 2}, 1}, // window of 2: ids 0 and 2 only
		{[]int32{1, 1, 1}, 3},    // penalised once, not three times
	}
	for _, tc := range tests {
		if got := s.Sample(logits, tc.hist); got != tc.want {
			t.Errorf("Sample(%v, history %v) = %d, want %d", logits, tc.hist, got, tc.want)
		}
	}
	// Negative logits are multiplied: -1 * 2 = -2 loses to -1.5.
	if got := s.Sample([]float32{-1, -1.5}, []int32{0}); got != 1 {
		t.Errorf("Sample([-1 -1.5], history [0]) = %d, want 1", got)
	}
}

// penalised runs a generation's calls on one Sampler: prompt first, then
// the generated ids one at a time, and returns the logits its last call
// would sample from.
func penalised(s *Sampler, logits []float32, prompt, generated []int32) []float32 {
	hist := append([]int32(nil), prompt...)
	s.penalise(logits, hist)
	for _, id := range generated {
		hist = append(hist, id)
		s.penalise(logits, hist)
	}
	return s.penalise(logits, hist)
}

func TestFrequencyPresencePenalty(t *testing.T) {
	logits := []float32{1, 2, -1, 0.5, 3}
	// generated: id 1 three times, id 2 once, id 4 twice; the prompt's
	// ids (0 and 3) are not counted.
	prompt := []int32{0, 3, 3}
	generated := []int32{1, 4, 1, 2, 4, 1}
	tests := []struct {
		name string
		p    Params
		want []float32
	}{
		{"frequency 0.5", Params{FrequencyPenalty: 0.5},
			[]float32{1, 2 - 3*0.5, -1 - 0.5, 0.5, 3 - 2*0.5}},
		{"presence 0.25", Params{PresencePenalty: 0.25},
			[]float32{1, 2 - 0.25, -1 - 0.25, 0.5, 3 - 0.25}},
		{"both", Params{FrequencyPenalty: 0.5, PresencePenalty: 0.25},
			[]float32{1, 2 - 1.5 - 0.25, -1 - 0.5 - 0.25, 0.5, 3 - 1 - 0.25}},
		{"negative both", Params{FrequencyPenalty: -1, PresencePenalty: -2},
			[]float32{1, 2 + 3 + 2, -1 + 1 + 2, 0.5, 3 + 2 + 2}},
		{"frequency positive, presence negative", Params{FrequencyPenalty: 2, PresencePenalty: -0.5},
			[]float32{1, 2 - 6 + 0.5, -1 - 2 + 0.5, 0.5, 3 - 4 + 0.5}},
		// Repeat penalty 2 over the whole history (prompt included) first:
		// positive logits halve, negative ones double; then the shift.
		{"with repeat_penalty", Params{RepeatPenalty: 2, RepeatLastN: -1, FrequencyPenalty: 0.5, PresencePenalty: 0.25},
			[]float32{1. / 2, 2./2 - 1.5 - 0.25, -1*2 - 0.5 - 0.25, 0.5 / 2, 3./2 - 1 - 0.25}},
		// A window of 2 (ids 4 and 1) for the repeat penalty; the counts
		// still cover the whole completion.
		{"with repeat_penalty window", Params{RepeatPenalty: 2, RepeatLastN: 2, FrequencyPenalty: 0.5},
			[]float32{1, 2./2 - 1.5, -1 - 0.5, 0.5, 3./2 - 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := append([]float32(nil), logits...)
			got := penalised(New(tc.p), logits, prompt, generated)
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Errorf("penalised logit(%d) = %v, want %v", i, got[i], tc.want[i])
				}
			}
			for i := range logits {
				if logits[i] != orig[i] {
					t.Fatalf("penalise modified the caller's logits[%d]: %v -> %v", i, orig[i], logits[i])
				}
			}
		})
	}
}

// The counts are kept incrementally and follow the history call by call;
// a shorter history starts a new generation.
func TestPenaltyCountsIncremental(t *testing.T) {
	s := New(Params{FrequencyPenalty: 1})
	logits := []float32{0, 0, 0}
	steps := []struct {
		hist []int32
		want []float32
	}{
		{[]int32{2, 2}, []float32{0, 0, 0}},            // the prompt
		{[]int32{2, 2, 1}, []float32{0, -1, 0}},        // one generated
		{[]int32{2, 2, 1, 1, 2}, []float32{0, -2, -1}}, // two more at once
		{[]int32{0}, []float32{0, 0, 0}},               // shorter: a new prompt
		{[]int32{0, 0}, []float32{-1, 0, 0}},
	}
	for _, st := range steps {
		got := s.penalise(logits, st.hist)
		for i := range st.want {
			if got[i] != st.want[i] {
				t.Errorf("history %v: penalised logit(%d) = %v, want %v", st.hist, i, got[i], st.want[i])
			}
		}
	}
}

// Zero penalties leave the logits untouched (the caller's own slice, bit for
// bit) and keep no counts.
func TestZeroPenaltiesOff(t *testing.T) {
	nan := float32(math.NaN())
	logits := []float32{1, float32(math.Copysign(0, -1)), nan, float32(math.Inf(-1)), 1e-30, 2}
	hist := []int32{0, 1, 2, 3, 4, 5, 5, 5}
	for _, tc := range []struct {
		name string
		p    Params
	}{
		{"zero", Params{}},
		{"zero, repeat_penalty 1", Params{RepeatPenalty: 1, Temperature: 0.7}},
		{"negative zero", Params{FrequencyPenalty: float32(math.Copysign(0, -1)), PresencePenalty: float32(math.Copysign(0, -1))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.p)
			got := penalised(s, logits, hist[:2], hist[2:])
			if &got[0] != &logits[0] {
				t.Errorf("penalise(zero penalties) copied the logits, want the caller's slice")
			}
			for i := range logits {
				if math.Float32bits(got[i]) != math.Float32bits(logits[i]) {
					t.Errorf("penalised logit(%d) = %v, want %v (bit-identical)", i, got[i], logits[i])
				}
			}
			if s.count != nil || s.started {
				t.Errorf("zero penalties kept counts (%d ids), want none", len(s.count))
			}
		})
	}
}

// Greedy decoding picks from the penalised logits: a strong frequency
// penalty on the argmax token moves the pick, deterministically.
func TestGreedyWithPenalty(t *testing.T) {
	logits := []float32{1, 3, 2.5, 0}
	prompt := []int32{1, 1} // the prompt's ids are not counted
	tests := []struct {
		name      string
		p         Params
		generated []int32
		want      int32
	}{
		{"no penalty", Params{}, []int32{1, 1}, 1},
		{"prompt only", Params{FrequencyPenalty: 2}, nil, 1},
		{"frequency 2, argmax seen once", Params{FrequencyPenalty: 2}, []int32{1}, 2},         // 3-2 = 1 < 2.5
		{"frequency 0.2, argmax seen twice", Params{FrequencyPenalty: 0.2}, []int32{1, 1}, 1}, // 3-0.4 > 2.5
		{"frequency 0.5, argmax seen twice", Params{FrequencyPenalty: 0.5}, []int32{1, 1}, 2}, // 3-1 < 2.5
		{"presence 1, both seen", Params{PresencePenalty: 1}, []int32{1, 2, 1}, 1},            // 2 > 1.5
		{"frequency -2 lifts a seen id", Params{FrequencyPenalty: -2}, []int32{3, 3}, 3},      // 0+4 > 3
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for run := range 2 { // same inputs, same pick
				s := New(tc.p)
				hist := append([]int32(nil), prompt...)
				s.Sample(logits, hist)
				for _, id := range tc.generated {
					hist = append(hist, id)
					s.Sample(logits, hist)
				}
				if got := s.Sample(logits, hist); got != tc.want {
					t.Errorf("run %d: greedy Sample(%v, generated %v) = %d, want %d", run, logits, tc.generated, got, tc.want)
				}
			}
		})
	}
}

func TestNaNAndInf(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(-1))
	s := New(Params{Temperature: 1, Seed: 9})
	for range 100 {
		if got := s.Sample([]float32{nan, 0, inf, nan}, nil); got != 1 {
			t.Fatalf("Sample(NaN, 0, -Inf, NaN) = %d, want 1", got)
		}
	}
	if got := New(Params{}).Sample([]float32{nan, 2, 5}, nil); got != 2 {
		t.Errorf("greedy Sample(NaN, 2, 5) = %d, want 2", got)
	}
}

func TestAllocationFree(t *testing.T) {
	logits := logitsFrom(1, 32000)
	hist := []int32{1, 2, 3, 4, 5}
	for _, p := range []Params{
		{},
		{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, Seed: 1},
		{Temperature: 0.8, TopP: 0.9, Seed: 1},
		{Temperature: 0.8, TopK: 40, FrequencyPenalty: 0.5, PresencePenalty: 0.5, Seed: 1},
	} {
		s := New(p)
		s.Sample(logits, hist[:2]) // the prompt
		s.Sample(logits, hist)     // three generated ids counted
		if a := testing.AllocsPerRun(20, func() { s.Sample(logits, hist) }); a != 0 {
			t.Errorf("Sample with %+v allocates %.1f times per call, want 0", p, a)
		}
	}
}

func BenchmarkSample(b *testing.B) {
	logits := logitsFrom(1, 128256)
	hist := make([]int32, 64)
	for _, bc := range []struct {
		name string
		p    Params
	}{
		{"greedy", Params{}},
		{"topk40", Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1}},
		{"topp-only", Params{Temperature: 0.8, TopP: 0.95}},
		{"greedy-freq-presence", Params{FrequencyPenalty: 0.5, PresencePenalty: 0.5}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := New(bc.p)
			s.Sample(logits, hist[:0]) // empty prompt: the 64 ids are generated
			for b.Loop() {
				s.Sample(logits, hist)
			}
		})
	}
}

// nucleus selects exactly the prefix a full sort would keep.
func TestNucleusMatchesSort(t *testing.T) {
	for seed := range uint64(200) {
		n := 1 + int(seed*7919%3000)
		l := logitsFrom(seed, n)
		if seed%5 == 0 { // many ties
			for i := range l {
				l[i] = float32(int(l[i]) / 4)
			}
		}
		c := make([]cand, n)
		sum := 0.0
		for i, v := range l {
			c[i] = cand{id: int32(i), v: v, p: float32(math.Exp(float64(v)))}
			sum += float64(c[i].p)
		}
		for i := range c {
			c[i].p = float32(float64(c[i].p) / sum)
		}
		p := 0.05 + float64(seed%19)*0.05
		ref := append([]cand(nil), c...)
		sortDesc(ref)
		want, cum := len(ref), 0.0
		for i := range ref {
			cum += float64(ref[i].p)
			if cum >= p {
				want = i + 1
				break
			}
		}
		m := nucleus(c, p)
		got := append([]cand(nil), c[:m]...)
		sortDesc(got)
		// Summation order may move the cut by one element when the running
		// sum lands within rounding of p.
		if m < want-1 || m > want+1 {
			t.Fatalf("seed %d: nucleus(n=%d, p=%.2f) kept %d, want %d", seed, n, p, m, want)
		}
		for i := range min(m, want) {
			if got[i] != ref[i] {
				t.Fatalf("seed %d: nucleus element %d = %+v, want %+v", seed, i, got[i], ref[i])
			}
		}
	}
}
