package inference

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/sample"
)

// Request is one generation request.
type Request struct {
	// Prompt is the text to continue. It is tokenized with the model's
	// special tokens (BOS when the vocabulary asks for it) and with special
	// token texts such as "<|im_start|>" parsed as tokens, as chat templates
	// need. Ignored when Tokens is set.
	Prompt string
	// Tokens is the prompt as token ids, used as they are.
	Tokens []int32
	// MaxTokens bounds the generated tokens. Default 0: until the context is
	// full.
	MaxTokens int
	// Params selects the sampling; the zero value is greedy.
	Params sample.Params
	// Stop ends generation at the first occurrence of any of these strings
	// in the generated text; the stop string itself is not part of the
	// result and no prefix of it is ever emitted.
	Stop []string
	// IgnoreEOS keeps generating past end-of-generation tokens.
	IgnoreEOS bool
}

// Finish reasons, as the OpenAI API names them.
const (
	FinishStop   = "stop"   // end-of-generation token or stop string
	FinishLength = "length" // MaxTokens reached or context full
)

// Result reports a finished generation.
type Result struct {
	// Text is the generated text, without the prompt and without the stop
	// string that ended it.
	Text string
	// Tokens are the generated ids (including an end-of-generation token
	// that ended the generation, which Text does not show).
	Tokens           []int32
	PromptTokens     int
	CompletionTokens int
	// FinishReason is FinishStop or FinishLength.
	FinishReason string
	// CachedTokens is how many prompt tokens were reused from the session's
	// KV cache instead of being processed again.
	CachedTokens int
	// PrefillTokensPerS is prompt tokens processed per second.
	PrefillTokensPerS float64
	// DecodeTokensPerS is generated tokens per second after the first.
	DecodeTokensPerS float64
	PrefillDuration  time.Duration
	DecodeDuration   time.Duration
}

// Session is one sequence with its own KV cache; the weights are the
// Model's. A Session runs one generation at a time. Consecutive requests
// whose prompts share a prefix reuse the cached positions of that prefix.
type Session struct {
	m       *Model
	st      *llama.State
	history []int32 // ids whose keys/values are in st, in order
}

// NewSession returns a session with a KV cache of Info().ContextLength
// positions.
func (m *Model) NewSession() *Session {
	return &Session{m: m, st: m.net.NewState(m.info.ContextLength, m.cfg.Batch)}
}

// PromptTokens tokenizes req's prompt as Generate would.
func (m *Model) PromptTokens(req Request) []int32 {
	if req.Tokens != nil {
		return req.Tokens
	}
	ids := m.tok.Encode(req.Prompt, true, true)
	// A chat template that writes the BOS text itself, with a vocabulary
	// that adds BOS too, would start the prompt with two: keep one, as
	// llama.cpp's server does.
	if bos := m.tok.BOS(); m.tok.AddBOS() && len(ids) >= 2 && bos >= 0 && ids[0] == bos && ids[1] == bos {
		ids = ids[1:]
	}
	return ids
}

// Generate continues req's prompt, calling emit with each new piece of
// text as soon as it is known not to belong to a stop string. An error from
// emit or the end of ctx stops generation and is returned with the result
// so far.
func (s *Session) Generate(ctx context.Context, req Request, emit func(piece string) error) (Result, error) {
	m := s.m
	m.use.RLock()
	defer m.use.RUnlock()
	if m.closed {
		return Result{}, ErrClosed
	}
	prompt, res, err := m.checkRequest(req)
	if err != nil {
		return res, err
	}
	ctxLen := s.st.ContextLength()

	// Reuse the cached prefix, keeping at least the last prompt token to
	// run so that its logits are computed.
	keep := min(commonPrefix(s.history, prompt), len(prompt)-1)
	keep = s.st.Truncate(keep) // fewer when a sliding window's ring lost them
	s.history = append(s.history[:keep], prompt[keep:]...)
	res.CachedTokens = keep

	start := time.Now()
	var logits []float32
	batch := max(s.m.cfg.Batch, llama.DefaultBatch)
	for i := keep; i < len(prompt); i += batch {
		if err := ctx.Err(); err != nil {
			s.resync()
			return res, err
		}
		var err error
		if logits, err = s.st.Forward(prompt[i:min(i+batch, len(prompt))]); err != nil {
			s.resync()
			return res, err
		}
	}
	res.PrefillDuration = time.Since(start)
	if d := res.PrefillDuration.Seconds(); d > 0 {
		res.PrefillTokensPerS = float64(len(prompt)-keep) / d
	}

	maxTokens := ctxLen - len(prompt)
	if req.MaxTokens > 0 {
		maxTokens = min(maxTokens, req.MaxTokens)
	}
	sampler := sample.New(req.Params)
	dec := m.tok.NewDecoder()
	out := stopWriter{stops: req.Stop, emit: emit}
	decodeStart := time.Now()
	decoded := 0
	res.FinishReason = FinishLength
	for len(res.Tokens) < maxTokens {
		if err := ctx.Err(); err != nil {
			return s.finish(res, &out, decoded, decodeStart, err)
		}
		id := sampler.Sample(logits, s.history)
		res.Tokens = append(res.Tokens, id)
		if m.tok.IsEOG(id) && !req.IgnoreEOS {
			res.FinishReason = FinishStop
			break
		}
		stopped, err := out.write(dec.Add(id))
		if err != nil || stopped {
			if stopped {
				res.FinishReason = FinishStop
			}
			return s.finish(res, &out, decoded, decodeStart, err)
		}
		if len(res.Tokens) == maxTokens {
			break
		}
		s.history = append(s.history, id)
		if logits, err = s.st.Forward([]int32{id}); err != nil {
			s.resync()
			return s.finish(res, &out, decoded, decodeStart, err)
		}
		decoded++
	}
	// Bytes the decoder held back (an incomplete character) and text held
	// back as a possible stop-string start are final now.
	stopped, err := out.write(dec.Flush())
	if stopped {
		res.FinishReason = FinishStop
	} else if err == nil {
		err = out.flush()
	}
	return s.finish(res, &out, decoded, decodeStart, err)
}

func (s *Session) finish(res Result, out *stopWriter, decoded int, start time.Time, err error) (Result, error) {
	return finishResult(res, out, decoded, start), err
}

// checkRequest validates req against the model and tokenizes its prompt.
func (m *Model) checkRequest(req Request) ([]int32, Result, error) {
	if m.enc != nil {
		return nil, Result{}, ErrNotGenerative
	}
	if err := req.Params.Validate(); err != nil {
		return nil, Result{}, err
	}
	if req.MaxTokens < 0 {
		return nil, Result{}, fmt.Errorf("max tokens %d is negative", req.MaxTokens)
	}
	prompt := m.PromptTokens(req)
	res := Result{PromptTokens: len(prompt)}
	ctxLen := m.info.ContextLength
	if len(prompt) == 0 {
		return nil, res, fmt.Errorf("empty prompt")
	}
	if len(prompt) >= ctxLen {
		return nil, res, fmt.Errorf("%w: prompt of %d tokens leaves no room in a context of %d", ErrContextLength, len(prompt), ctxLen)
	}
	for _, id := range prompt {
		if id < 0 || int(id) >= m.info.VocabSize {
			return nil, res, fmt.Errorf("prompt token %d outside the vocabulary of %d", id, m.info.VocabSize)
		}
	}
	return prompt, res, nil
}

// finishResult completes res once generation has ended: the text without a
// stop string, counts and decode speed.
func finishResult(res Result, out *stopWriter, decoded int, start time.Time) Result {
	res.Text = out.text.String()
	if out.stopped {
		res.Text = res.Text[:out.cut]
	}
	res.CompletionTokens = len(res.Tokens)
	res.DecodeDuration = time.Since(start)
	if d := res.DecodeDuration.Seconds(); d > 0 && decoded > 0 {
		res.DecodeTokensPerS = float64(decoded) / d
	}
	return res
}

// resync makes history match the KV cache after an interrupted forward pass.
func (s *Session) resync() {
	if s.st.Pos() < len(s.history) {
		s.history = s.history[:s.st.Pos()]
	}
}

// stopWriter accumulates generated text and emits what can no longer turn
// into a stop string.
type stopWriter struct {
	stops   []string
	emit    func(string) error
	text    strings.Builder
	emitted int  // bytes of text passed to emit
	stopped bool // a stop string was found at cut
	cut     int
}

// write appends piece and emits the safe part; it reports whether a stop
// string now occurs.
func (w *stopWriter) write(piece string) (bool, error) {
	if piece == "" || w.stopped {
		return w.stopped, nil
	}
	w.text.WriteString(piece)
	text := w.text.String()
	// A stop string can only start in the part not yet emitted (every
	// emitted byte was checked not to start one).
	best := -1
	for _, s := range w.stops {
		if s == "" {
			continue
		}
		if i := strings.Index(text[w.emitted:], s); i >= 0 && (best < 0 || w.emitted+i < best) {
			best = w.emitted + i
		}
	}
	if best >= 0 {
		w.stopped, w.cut = true, best
		return true, w.send(text[w.emitted:best])
	}
	// Hold back the longest suffix that is a prefix of a stop string.
	hold := 0
	for _, s := range w.stops {
		for k := min(len(s)-1, len(text)-w.emitted); k > hold; k-- {
			if strings.HasSuffix(text, s[:k]) {
				hold = k
				break
			}
		}
	}
	return false, w.send(text[w.emitted : len(text)-hold])
}

// flush emits everything held back (generation ended without a stop string).
func (w *stopWriter) flush() error {
	text := w.text.String()
	return w.send(text[w.emitted:])
}

func (w *stopWriter) send(s string) error {
	if s == "" {
		return nil
	}
	w.emitted += len(s)
	if w.emit == nil {
		return nil
	}
	return w.emit(s)
}

func commonPrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
