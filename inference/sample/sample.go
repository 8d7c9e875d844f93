package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Params configures a Sampler. The zero value is greedy decoding.
type Params struct {
	// Temperature divides the logits of the candidates left by the filters
	// before the draw; higher is more random. Default 0: greedy (argmax),
	// no randomness.
	Temperature float32
	// TopK keeps the K most likely candidates. Default 0: all.
	TopK int
	// TopP keeps the smallest set of most likely candidates whose
	// probabilities add up to at least TopP. Range [0, 1]. Default 0: off
	// (same as 1).
	TopP float32
	// MinP drops candidates less likely than MinP times the most likely one.
	// Range [0, 1]. Default 0: off.
	MinP float32
	// RepeatPenalty divides positive logits (multiplies negative ones) of ids
	// present in the recent history. Default 0: off (same as 1).
	RepeatPenalty float32
	// RepeatLastN is how many of the last history ids the penalty looks at.
	// Default 0: 64 (llama.cpp's default); -1: the whole history.
	RepeatLastN int
	// FrequencyPenalty is subtracted from the logit of an id once per
	// occurrence of that id among the generated ids (OpenAI's
	// frequency_penalty); negative values favour repeats. Range [-2, 2].
	// Default 0: off.
	FrequencyPenalty float32
	// PresencePenalty is subtracted once from the logit of every id that
	// occurs among the generated ids (OpenAI's presence_penalty); negative
	// values favour repeats. Range [-2, 2]. Default 0: off.
	PresencePenalty float32
	// Seed seeds the random generator; the same seed gives the same ids.
	// Default 0, a seed like any other: callers that want varied output
	// pass a random seed.
	Seed uint64
}

// DefaultRepeatLastN is the history window the repetition penalty uses when
// Params.RepeatLastN is 0.
const DefaultRepeatLastN = 64

// MaxPenalty bounds the magnitude of FrequencyPenalty and PresencePenalty,
// as OpenAI's API does.
const MaxPenalty = 2

// Validate reports the first parameter out of range.
func (p Params) Validate() error {
	bad := func(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }
	switch {
	case bad(p.Temperature) || p.Temperature < 0:
		return fmt.Errorf("sample: temperature %v must be a finite number >= 0 (0 = greedy)", p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("sample: top_k %d must be >= 0 (0 = off)", p.TopK)
	case bad(p.TopP) || p.TopP < 0 || p.TopP > 1:
		return fmt.Errorf("sample: top_p %v must be in (0, 1] (or 0 = off)", p.TopP)
	case bad(p.MinP) || p.MinP < 0 || p.MinP > 1:
		return fmt.Errorf("sample: min_p %v must be in [0, 1]", p.MinP)
	case bad(p.RepeatPenalty) || p.RepeatPenalty < 0:
		return fmt.Errorf("sample: repeat_penalty %v must be a finite number > 0 (1 = off)", p.RepeatPenalty)
	case p.RepeatLastN < -1:
		return fmt.Errorf("sample: repeat_last_n %d must be >= -1 (-1 = whole history, 0 = %d)", p.RepeatLastN, DefaultRepeatLastN)
	case bad(p.FrequencyPenalty) || p.FrequencyPenalty < -MaxPenalty || p.FrequencyPenalty > MaxPenalty:
		return fmt.Errorf("sample: frequency_penalty %v must be between -%d and %d (0 = off)", p.FrequencyPenalty, MaxPenalty, MaxPenalty)
	case bad(p.PresencePenalty) || p.PresencePenalty < -MaxPenalty || p.PresencePenalty > MaxPenalty:
		return fmt.Errorf("sample: presence_penalty %v must be between -%d and %d (0 = off)", p.PresencePenalty, MaxPenalty, MaxPenalty)
	}
	return nil
}

type cand struct {
	id int32
	v  float32 // logit
	p  float32 // probability at temperature 1, then drawing weight
}

// Sampler draws ids according to Params. Not safe for concurrent use.
type Sampler struct {
	p      Params
	rng    *rand.Rand
	logits []float32 // copy of the caller's logits, penalised
	cands  []cand
	seen   map[int32]struct{}

	// Generated ids for the frequency and presence penalties, kept only
	// when one of them is on and updated incrementally: each call adds the
	// ids history gained since the previous call.
	started  bool
	counted  int     // len(history) already counted (prompt included)
	count    []int32 // occurrences among the generated ids, by id
	distinct []int32 // ids with count > 0, in order of first occurrence
}

// New returns a Sampler for p. Invalid parameters are clamped to the nearest
// valid value; call p.Validate first to report them instead.
func New(p Params) *Sampler {
	if !(p.Temperature >= 0) {
		p.Temperature = 0
	}
	p.TopK = max(p.TopK, 0)
	if !(p.TopP > 0 && p.TopP < 1) {
		p.TopP = 1
	}
	if !(p.MinP > 0) {
		p.MinP = 0
	}
	p.MinP = min(p.MinP, 1)
	if !(p.RepeatPenalty > 0) || math.IsInf(float64(p.RepeatPenalty), 0) {
		p.RepeatPenalty = 1
	}
	if p.RepeatLastN == 0 {
		p.RepeatLastN = DefaultRepeatLastN
	}
	p.RepeatLastN = max(p.RepeatLastN, -1)
	p.FrequencyPenalty = clampPenalty(p.FrequencyPenalty)
	p.PresencePenalty = clampPenalty(p.PresencePenalty)
	return &Sampler{
		p:    p,
		rng:  rand.New(rand.NewPCG(p.Seed, p.Seed^0x9E3779B97F4A7C15)),
		seen: make(map[int32]struct{}),
	}
}

// clampPenalty maps a frequency or presence penalty into [-MaxPenalty,
// MaxPenalty], NaN to 0 (off).
func clampPenalty(v float32) float32 {
	if v != v {
		return 0
	}
	return min(max(v, -MaxPenalty), MaxPenalty)
}

// Params returns the parameters in effect (after clamping and defaults).
func (s *Sampler) Params() Params { return s.p }

// Sample returns the next id for logits (one per vocabulary entry), given the
// ids seen so far. It does not modify logits or history, and allocates nothing
// once its buffers have grown to the vocabulary size. NaN logits are never
// chosen. It returns -1 only when logits is empty.
//
// A Sampler serves one generation. With FrequencyPenalty or PresencePenalty
// on, the history of the first call is taken as the prompt, and each later
// call's history must extend the previous one with the ids generated since
// (as inference.Session does); a history shorter than the previous one
// starts a new generation with it as the prompt.
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	n := len(logits)
	if n == 0 {
		return -1
	}
	logits = s.penalise(logits, history)
	if s.p.Temperature == 0 {
		return argmax(logits)
	}

	// top-k
	c := s.cands[:0]
	k := s.p.TopK
	if k == 0 || k > n {
		k = n
	}
	if k < n {
		c = topK(c, logits, k)
	} else {
		for i, v := range logits {
			c = append(c, cand{id: int32(i), v: v})
		}
	}
	s.cands = c

	// softmax (at temperature 1: top-p and min-p judge the model's own
	// probabilities, as in llama.cpp, where temperature comes last)
	maxv := float32(math.Inf(-1))
	for _, x := range c {
		if x.v > maxv {
			maxv = x.v
		}
	}
	if math.IsInf(float64(maxv), 0) {
		return argmax(logits) // no finite logit to weigh
	}
	sum := 0.0
	for i := range c {
		e := 0.0
		if v := c[i].v; v == v { // NaN stays at probability 0
			e = math.Exp(float64(v) - float64(maxv))
		}
		c[i].p = float32(e)
		sum += e
	}
	pmax := float32(1 / sum) // the largest term was exp(0) = 1
	for i := range c {
		c[i].p = float32(float64(c[i].p) / sum)
	}

	// Top-p then min-p both keep a prefix of the candidates sorted by
	// probability, so the shorter prefix wins. Before sorting, drop what
	// neither can keep: min-p's floor, and for top-p everything below
	// (1-TopP)/len: all those together weigh at most 1-TopP, so the nucleus
	// lies entirely above. This spares sorting a whole vocabulary.
	floor := float32(0)
	if s.p.TopP < 1 {
		floor = (1 - s.p.TopP) / float32(len(c))
	}
	if s.p.MinP > 0 {
		floor = max(floor, s.p.MinP*pmax)
	}
	if floor > 0 {
		kept := c[:0]
		for _, x := range c {
			if x.p >= floor {
				kept = append(kept, x)
			}
		}
		if len(kept) > 0 {
			c = kept
		} else {
			c = c[:1] // rounding left nothing: keep one
		}
	}
	if s.p.TopP < 1 {
		c = c[:nucleus(c, float64(s.p.TopP))]
	}

	// temperature, then draw: weights exp((logit-max)/T) over what is left
	inv := 1 / float64(s.p.Temperature)
	total := 0.0
	for i := range c {
		w := 0.0
		if v := c[i].v; v == v {
			w = math.Exp((float64(v) - float64(maxv)) * inv)
		}
		c[i].p = float32(w)
		total += w
	}
	if !(total > 0) {
		return c[0].id
	}
	r := s.rng.Float64() * total
	for _, x := range c {
		r -= float64(x.p)
		if r < 0 {
			return x.id
		}
	}
	return c[0].id
}

// penalise returns logits with the penalties applied: a copy when any
// applies, logits itself when none does. The order is llama.cpp's
// penalties sampler, the first step of its chain (before top-k, top-p,
// min-p and temperature, so greedy decoding sees penalised logits too): for
// each penalised id the repetition penalty first scales the logit, then
// count*FrequencyPenalty + PresencePenalty is subtracted from it. With both
// of those at 0 no counting is done at all.
//
// History differs by penalty. The repetition penalty looks, as in
// llama.cpp, at the last RepeatLastN ids of prompt and generated ids. The
// frequency and presence penalties count only the ids generated in this
// completion, all of them: that is OpenAI's definition (c[j] is how often
// id j was sampled before the current position), the API the parameters
// come from, and it keeps a prompt's own words (a document to summarise, a
// name to repeat) from being penalised. llama.cpp applies them over the
// same last-N window of prompt and generated ids as its repeat penalty.
// The two sets of ids may differ; each id's logit is still scaled before
// it is shifted, as in llama.cpp's single loop.
func (s *Sampler) penalise(logits []float32, history []int32) []float32 {
	rep := s.p.RepeatPenalty != 1 && len(history) > 0
	fp, pp := s.p.FrequencyPenalty, s.p.PresencePenalty
	add := fp != 0 || pp != 0
	if add {
		s.countGenerated(history, len(logits))
		add = len(s.distinct) > 0
	}
	if !rep && !add {
		return logits
	}
	s.logits = append(s.logits[:0], logits...)
	if rep {
		s.applyPenalty(history)
	}
	if add {
		for _, id := range s.distinct {
			if int(id) < len(s.logits) {
				s.logits[id] -= float32(s.count[id])*fp + pp
			}
		}
	}
	return s.logits
}

// countGenerated adds to the counts the ids history gained since the last
// call: O(new ids), not O(history). Counts are a slice indexed by id, sized
// to the vocabulary (n) once; ids outside it are ignored.
func (s *Sampler) countGenerated(history []int32, n int) {
	if len(s.count) < n {
		s.count = append(s.count, make([]int32, n-len(s.count))...)
	}
	if !s.started || len(history) < s.counted {
		// First call, or a new sequence: its history is the prompt.
		for _, id := range s.distinct {
			s.count[id] = 0
		}
		s.distinct = s.distinct[:0]
		s.started, s.counted = true, len(history)
		return
	}
	for _, id := range history[s.counted:] {
		if id < 0 || int(id) >= len(s.count) {
			continue
		}
		if s.count[id] == 0 {
			s.distinct = append(s.distinct, id)
		}
		s.count[id]++
	}
	s.counted = len(history)
}

// applyPenalty penalises, once each, the ids among the last RepeatLastN of
// history (llama.cpp's repetition penalty).
func (s *Sampler) applyPenalty(history []int32) {
	if s.p.RepeatPenalty == 1 || len(history) == 0 {
		return
	}
	if s.p.RepeatLastN >= 0 && len(history) > s.p.RepeatLastN {
		history = history[len(history)-s.p.RepeatLastN:]
	}
	clear(s.seen)
	pen := s.p.RepeatPenalty
	for _, id := range history {
		if id < 0 || int(id) >= len(s.logits) {
			continue
		}
		if _, dup := s.seen[id]; dup {
			continue
		}
		s.seen[id] = struct{}{}
		if v := s.logits[id]; v > 0 {
			s.logits[id] = v / pen
		} else {
			s.logits[id] = v * pen
		}
	}
}

// argmax returns the index of the largest value, the lowest on a tie. NaN
// never wins (unless all are NaN: then 0).
func argmax(v []float32) int32 {
	best := -1
	bv := float32(math.Inf(-1))
	for i, x := range v {
		if x > bv || best < 0 && x == bv {
			best, bv = i, x
		}
	}
	return int32(max(best, 0))
}

// before orders candidates: higher value first, lower id on a tie.
func before(a, b cand) bool {
	av, bv := a.v, b.v
	if av != av { // NaN ranks below everything
		av = float32(math.Inf(-1))
	}
	if bv != bv {
		bv = float32(math.Inf(-1))
	}
	if av != bv {
		return av > bv
	}
	return a.id < b.id
}

// nucleus reorders c so that c[:m] holds the m most likely candidates (in
// the order of before) whose probabilities first add up to at least p, and
// returns m: the top-p set, found by quickselect in linear expected time
// rather than by sorting a whole vocabulary.
func nucleus(c []cand, p float64) int {
	lo, hi := 0, len(c) // c[:lo] is taken; the rest of the nucleus is in c[lo:hi]
	need := p
	for hi-lo > 16 {
		// median of three as pivot, moved to lo
		mid := lo + (hi-lo)/2
		a, b, d := lo, mid, hi-1
		if before(c[b], c[a]) {
			a, b = b, a
		}
		if before(c[d], c[b]) {
			b = d
			if before(c[b], c[a]) {
				b = a
			}
		}
		c[lo], c[b] = c[b], c[lo]
		pivot := c[lo]
		i := lo + 1
		mass := 0.0
		for j := lo + 1; j < hi; j++ {
			if before(c[j], pivot) {
				mass += float64(c[j].p)
				c[i], c[j] = c[j], c[i]
				i++
			}
		}
		// c[lo+1:i] beat the pivot; put the pivot after them.
		c[lo], c[i-1] = c[i-1], c[lo]
		if mass >= need {
			hi = i - 1 // the nucleus ends among the better ones
			continue
		}
		need -= mass + float64(pivot.p)
		lo = i
		if need <= 0 {
			return lo
		}
	}
	sortDesc(c[lo:hi])
	cum := 0.0
	for i := lo; i < hi; i++ {
		cum += float64(c[i].p)
		if cum >= need {
			return i + 1
		}
	}
	return max(hi, 1)
}

func sortDesc(c []cand) {
	slices.SortFunc(c, func(a, b cand) int {
		if before(a, b) {
			return -1
		}
		if before(b, a) {
			return 1
		}
		return 0
	})
}

// topK appends the k best candidates of logits to c (unordered), with a
// min-heap of size k: O(n log k) instead of sorting the vocabulary.
func topK(c []cand, logits []float32, k int) []cand {
	for i := 0; i < k; i++ {
		c = append(c, cand{id: int32(i), v: logits[i]})
		// sift up: the root is the worst kept candidate
		j := i
		for j > 0 {
			p := (j - 1) / 2
			if !before(c[p], c[j]) {
				break
			}
			c[p], c[j] = c[j], c[p]
			j = p
		}
	}
	for i := k; i < len(logits); i++ {
		x := cand{id: int32(i), v: logits[i]}
		if !before(x, c[0]) {
			continue
		}
		c[0] = x
		j := 0
		for {
			l := 2*j + 1
			if l >= k {
				break
			}
			m := l
			if r := l + 1; r < k && before(c[l], c[r]) {
				m = r
			}
			if !before(c[j], c[m]) {
				break
			}
			c[j], c[m] = c[m], c[j]
			j = m
		}
	}
	return c
}
