package inference

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/cairnhub/cairn/inference/llama"
)

// DefaultPerplexityContext is PerplexityOptions.Context's default, as
// llama-perplexity is usually run (-c 512).
const DefaultPerplexityContext = 512

// PerplexityOptions tune Perplexity.
type PerplexityOptions struct {
	// Context is the chunk length in tokens (llama-perplexity's -c).
	// Default DefaultPerplexityContext, or the model's context if smaller.
	Context int
	// Chunks bounds how many chunks are scored. Default 0: all.
	Chunks int
	// Progress, when set, is called after each chunk with the chunks done,
	// their number and the estimate so far.
	Progress func(done, total int, ppl float64)
}

// PerplexityResult reports a perplexity run.
type PerplexityResult struct {
	// PPL is exp of the mean negative log-likelihood of the scored tokens;
	// StdErr its standard error, as llama-perplexity prints "PPL ± err".
	PPL, StdErr float64
	// Context is the chunk length used, Chunks the chunks scored, Tokens
	// the text's length in tokens and Scored the tokens predicted.
	Context, Chunks, Tokens, Scored int
	Duration                        time.Duration
}

// Perplexity scores text the way llama.cpp's llama-perplexity does, so the
// two agree on the same model, file and context: the whole text is
// tokenized once (with BOS when the vocabulary adds it), cut into chunks
// of Context tokens (a remainder shorter than a chunk is dropped), each
// chunk is evaluated from an empty cache with its first token replaced by
// BOS (when the vocabulary adds one), and only the second half of each
// chunk is scored, so that every scored token has at least half a context
// before it.
func (m *Model) Perplexity(ctx context.Context, text string, o PerplexityOptions) (PerplexityResult, error) {
	m.use.RLock()
	defer m.use.RUnlock()
	if m.closed {
		return PerplexityResult{}, ErrClosed
	}
	if m.enc != nil {
		return PerplexityResult{}, ErrNotGenerative
	}
	nctx := o.Context
	if nctx == 0 {
		nctx = min(DefaultPerplexityContext, m.info.ContextLength)
	}
	if nctx < 4 || nctx > m.info.ContextLength {
		return PerplexityResult{}, fmt.Errorf("perplexity: context %d: want 4 to the model's context of %d", nctx, m.info.ContextLength)
	}
	tokens := m.tok.Encode(text, true, false)
	if len(tokens) < 2*nctx {
		return PerplexityResult{}, fmt.Errorf("perplexity: the text is %d tokens; a context of %d needs at least %d", len(tokens), nctx, 2*nctx)
	}
	chunks := len(tokens) / nctx
	if o.Chunks > 0 {
		chunks = min(chunks, o.Chunks)
	}
	p := perplexer{m: m, nctx: nctx, st: m.net.NewState(nctx, m.cfg.Batch)}
	start := time.Now()
	for i := range chunks {
		if err := ctx.Err(); err != nil {
			return PerplexityResult{}, err
		}
		if err := p.chunk(tokens[i*nctx : (i+1)*nctx]); err != nil {
			return PerplexityResult{}, err
		}
		if o.Progress != nil {
			o.Progress(i+1, chunks, math.Exp(p.nll/float64(p.count)))
		}
	}
	return p.result(chunks, len(tokens), time.Since(start)), nil
}

// perplexer accumulates the log-likelihoods of the scored tokens.
type perplexer struct {
	m         *Model
	nctx      int
	st        *llama.State
	logits    []float32
	nll, nll2 float64
	count     int
}

// chunk evaluates one chunk and scores its second half.
func (p *perplexer) chunk(toks []int32) error {
	in := append([]int32(nil), toks...)
	if p.m.tok.AddBOS() && p.m.tok.BOS() >= 0 {
		in[0] = p.m.tok.BOS()
	}
	p.st.Reset()
	first := p.nctx / 2
	if err := p.forward(in[:first]); err != nil {
		return err
	}
	rest := in[first:]
	vocab := p.m.info.VocabSize
	if cap(p.logits) < len(rest)*vocab {
		p.logits = make([]float32, len(rest)*vocab)
	}
	all := p.logits[:len(rest)*vocab]
	if err := p.st.ForwardAll(rest, all); err != nil {
		return fmt.Errorf("perplexity: %w", err)
	}
	// The logits at position j predict token j+1; the last position
	// predicts past the chunk and is not scored.
	for j := 0; j < len(rest)-1; j++ {
		lp := logSoftmaxAt(all[j*vocab:(j+1)*vocab], toks[first+j+1])
		p.nll -= lp
		p.nll2 += lp * lp
		p.count++
	}
	return nil
}

func (p *perplexer) forward(toks []int32) error {
	if len(toks) == 0 {
		return nil
	}
	if _, err := p.st.Forward(toks); err != nil {
		return fmt.Errorf("perplexity: %w", err)
	}
	return nil
}

func (p *perplexer) result(chunks, tokens int, d time.Duration) PerplexityResult {
	mean := p.nll / float64(p.count)
	r := PerplexityResult{PPL: math.Exp(mean), Context: p.nctx, Chunks: chunks, Tokens: tokens, Scored: p.count, Duration: d}
	if v := p.nll2/float64(p.count) - mean*mean; v > 0 && p.count > 1 {
		r.StdErr = math.Sqrt(v/float64(p.count-1)) * r.PPL
	}
	return r
}

// logSoftmaxAt is log(softmax(logits)[tok]), summed in float64.
func logSoftmaxAt(logits []float32, tok int32) float64 {
	hi := logits[0]
	for _, v := range logits[1:] {
		hi = max(hi, v)
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - hi))
	}
	return float64(logits[tok]-hi) - math.Log(sum)
}
