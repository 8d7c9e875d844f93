package inference

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/cairnhub/cairn/inference/llama"
	"github.com/cairnhub/cairn/inference/sample"
	"github.com/cairnhub/cairn/inference/tokenizer"
)

// DefaultParallel is the number of sequences a model generates at once when
// Config.Parallel is 0.
const DefaultParallel = 4

// batcher runs a model's generations together: between decode steps
// requests join (first come first, at most Config.Parallel at once, each in
// a Session of its own) and leave; each step is one llama.Batch pass that
// takes one token of every decoding sequence and a chunk of at most
// Config.Batch prompt tokens, so a long prompt delays the others' next
// token by one chunk at most. Guarded by Model.mu.
type batcher struct {
	m       *Model
	queue   []*seq // waiting to join, first come first
	active  []*seq // in the batch, in the order they joined
	running bool   // the loop goroutine is running
	pass    *llama.Batch
	// Scratch of the loop goroutine, reused step after step.
	stepActive []*seq
	stepSeqs   []llama.Seq
	stepIn     []*seq
}

// seq is one request in the batcher. Fields below mu are shared with the
// request's goroutine; the rest belong to the loop once the seq is queued.
type seq struct {
	ctx       context.Context
	req       Request
	prompt    []int32
	s         *Session
	sampler   *sample.Sampler
	dec       *tokenizer.Decoder
	out       stopWriter
	res       Result
	maxTokens int
	fed       int   // prompt tokens in the KV cache
	next      int32 // the sampled token to feed, once decoding
	decoding  bool
	logits    []float32
	start     time.Time // joined the batch
	decStart  time.Time
	decoded   int

	mu      sync.Mutex
	pieces  []piece
	emitErr error // emit failed or the client went away, at cut
	cut     piece
	err     error // why it ended early
	notify  chan struct{}
	done    chan struct{}
}

// Generate runs req in the model's batch: it waits for a place (first come
// first) and generates alongside the other requests, sharing each pass over
// the weights. emit runs on the caller's goroutine; a slow emit does not hold
// up the batch.
func (m *Model) Generate(ctx context.Context, req Request, emit func(piece string) error) (Result, error) {
	m.use.RLock()
	defer m.use.RUnlock()
	if m.closed {
		return Result{}, ErrClosed
	}
	prompt, res, err := m.checkRequest(req)
	if err != nil {
		return res, err
	}
	sq := &seq{ctx: ctx, req: req, prompt: prompt, res: res, notify: make(chan struct{}, 1), done: make(chan struct{})}
	sq.out = stopWriter{stops: req.Stop, emit: sq.queuePiece}
	m.mu.Lock()
	m.batch.queue = append(m.batch.queue, sq)
	if !m.batch.running {
		m.batch.running = true
		go m.batch.loop()
	}
	m.mu.Unlock()
	return sq.wait(emit)
}

// piece is text for emit, with the generated tokens and text bytes there
// were when it was made.
type piece struct {
	text           string
	tokens, textAt int
}

// queuePiece hands a piece of text to the request's goroutine.
func (sq *seq) queuePiece(p string) error {
	sq.mu.Lock()
	sq.pieces = append(sq.pieces, piece{text: p, tokens: len(sq.res.Tokens), textAt: sq.out.emitted})
	sq.mu.Unlock()
	select {
	case sq.notify <- struct{}{}:
	default:
	}
	return nil
}

// wait passes pieces to emit until the sequence ends. When emit fails, or
// the client has gone away after a piece, the sequence stops at the next
// step and the result is cut back to what the client was sent, as if
// generation had stopped right there.
func (sq *seq) wait(emit func(string) error) (Result, error) {
	for {
		select {
		case <-sq.notify:
			sq.drain(emit)
		case <-sq.done:
			sq.drain(emit)
			sq.mu.Lock()
			defer sq.mu.Unlock()
			if sq.emitErr == nil {
				return sq.res, sq.err
			}
			res := sq.res
			res.Tokens = res.Tokens[:min(sq.cut.tokens, len(res.Tokens))]
			res.CompletionTokens = len(res.Tokens)
			res.Text = res.Text[:min(sq.cut.textAt, len(res.Text))]
			return res, sq.emitErr
		}
	}
}

func (sq *seq) drain(emit func(string) error) {
	sq.mu.Lock()
	ps := sq.pieces
	sq.pieces = nil
	failed := sq.emitErr != nil
	sq.mu.Unlock()
	for _, p := range ps {
		if failed || emit == nil {
			continue
		}
		err := emit(p.text)
		if err == nil {
			err = sq.ctx.Err()
		}
		if err != nil {
			failed = true
			sq.mu.Lock()
			sq.emitErr, sq.cut = err, p
			sq.mu.Unlock()
		}
	}
}

// stopped is why sq must end before its next step: its client went away or
// its emit failed.
func (sq *seq) stopped() error {
	sq.mu.Lock()
	err := sq.emitErr
	sq.mu.Unlock()
	if err != nil {
		return err
	}
	return sq.ctx.Err()
}

// loop runs steps until no request is in the batch or waiting.
func (b *batcher) loop() {
	for {
		b.m.mu.Lock()
		b.admitLocked()
		if len(b.active) == 0 {
			b.running = false
			b.m.mu.Unlock()
			return
		}
		active := append(b.stepActive[:0], b.active...)
		b.stepActive = active
		b.m.mu.Unlock()
		ended := b.step(active)
		b.m.mu.Lock()
		for _, sq := range ended {
			b.leaveLocked(sq)
		}
		b.m.mu.Unlock()
		for _, sq := range ended {
			close(sq.done)
		}
	}
}

// admitLocked moves waiting requests into the batch, first come first,
// while there is room, giving each the idle session sharing the longest
// prefix with its prompt, else a new one.
func (b *batcher) admitLocked() {
	m := b.m
	for len(b.queue) > 0 && len(b.active) < m.parallel() {
		sq := b.queue[0]
		b.queue = b.queue[1:]
		if err := sq.ctx.Err(); err != nil {
			sq.err = err
			close(sq.done)
			continue
		}
		best, bestN := -1, -1
		for i, c := range m.idle {
			if n := commonPrefix(c.history, sq.prompt); n > bestN {
				best, bestN = i, n
			}
		}
		if best >= 0 {
			sq.s = m.idle[best]
			m.idle = slices.Delete(m.idle, best, best+1)
		} else {
			sq.s = m.NewSession()
		}
		sq.join()
		b.active = append(b.active, sq)
	}
}

// join readies sq's session: the cached prefix kept, the rest of the prompt
// to feed.
func (sq *seq) join() {
	s, prompt := sq.s, sq.prompt
	keep := min(commonPrefix(s.history, prompt), len(prompt)-1)
	keep = s.st.Truncate(keep) // fewer when a sliding window's ring lost them
	s.history = append(s.history[:keep], prompt[keep:]...)
	sq.res.CachedTokens = keep
	sq.fed = keep
	sq.maxTokens = s.st.ContextLength() - len(prompt)
	if sq.req.MaxTokens > 0 {
		sq.maxTokens = min(sq.maxTokens, sq.req.MaxTokens)
	}
	sq.sampler = sample.New(sq.req.Params)
	sq.dec = s.m.tok.NewDecoder()
	sq.logits = make([]float32, s.m.info.VocabSize)
	sq.res.FinishReason = FinishLength
	sq.start = time.Now()
}

// leaveLocked takes sq out of the batch and keeps its session for reuse
// while the sessions stay within Config.Parallel.
func (b *batcher) leaveLocked(sq *seq) {
	if i := slices.Index(b.active, sq); i >= 0 {
		b.active = slices.Delete(b.active, i, i+1)
	}
	if sq.s == nil {
		return
	}
	sq.s.resync()
	if len(b.m.idle)+len(b.active) < max(b.m.parallel(), b.m.cfg.IdleSessions) {
		b.m.idle = append(b.m.idle, sq.s)
	}
}

// step runs one pass over the weights for active and returns the
// sequences that ended.
func (b *batcher) step(active []*seq) (ended []*seq) {
	chunk := b.m.chunk()
	budget := chunk
	seqs, in := b.stepSeqs[:0], b.stepIn[:0]
	defer func() { b.stepSeqs, b.stepIn = seqs[:0], in[:0] }()
	for _, sq := range active {
		if err := sq.stopped(); err != nil {
			sq.finish(err)
			ended = append(ended, sq)
			continue
		}
		if sq.decoding {
			seqs = append(seqs, llama.Seq{State: sq.s.st, Tokens: []int32{sq.next}, Logits: sq.logits})
			in = append(in, sq)
		}
	}
	// Prompt chunks go to the earliest joined first, within the budget.
	for _, sq := range active {
		if sq.decoding || slices.Contains(ended, sq) || budget == 0 {
			continue
		}
		k := min(len(sq.prompt)-sq.fed, chunk, budget)
		budget -= k
		ls := llama.Seq{State: sq.s.st, Tokens: sq.prompt[sq.fed : sq.fed+k]}
		sq.fed += k
		if sq.fed == len(sq.prompt) {
			ls.Logits = sq.logits
		}
		seqs = append(seqs, ls)
		in = append(in, sq)
	}
	if len(seqs) == 0 {
		return ended
	}
	if err := b.forward(seqs); err != nil {
		for _, sq := range in {
			sq.finish(err)
		}
		return append(ended, in...)
	}
	for i, sq := range in {
		if seqs[i].Logits == nil {
			continue
		}
		if sq.decoding {
			sq.decoded++
		} else {
			sq.prefilled()
		}
		if sq.advance() {
			ended = append(ended, sq)
		}
	}
	return ended
}

// forward runs one pass: all sequences at once where the architecture has
// a multi-sequence forward, else one after the other.
func (b *batcher) forward(seqs []llama.Seq) error {
	net := b.m.net
	if !net.MultiSupported() {
		for _, sq := range seqs {
			logits, err := sq.State.Forward(sq.Tokens)
			if err != nil {
				return err
			}
			if sq.Logits != nil {
				copy(sq.Logits, logits)
			}
		}
		return nil
	}
	if b.pass == nil {
		b.pass = net.NewBatch(b.m.parallel() + b.m.chunk())
	}
	return b.pass.Forward(seqs)
}

func (sq *seq) prefilled() {
	sq.res.PrefillDuration = time.Since(sq.start)
	if d := sq.res.PrefillDuration.Seconds(); d > 0 {
		sq.res.PrefillTokensPerS = float64(len(sq.prompt)-sq.res.CachedTokens) / d
	}
	sq.decoding = true
	sq.decStart = time.Now()
}

// advance samples the next token from sq.logits and reports whether the
// sequence has ended.
func (sq *seq) advance() bool {
	s := sq.s
	m := s.m
	id := sq.sampler.Sample(sq.logits, s.history)
	sq.res.Tokens = append(sq.res.Tokens, id)
	if m.tok.IsEOG(id) && !sq.req.IgnoreEOS {
		sq.res.FinishReason = FinishStop
		sq.end()
		return true
	}
	if stopped, _ := sq.out.write(sq.dec.Add(id)); stopped {
		sq.res.FinishReason = FinishStop
		sq.finish(nil)
		return true
	}
	if len(sq.res.Tokens) >= sq.maxTokens {
		sq.end()
		return true
	}
	s.history = append(s.history, id)
	sq.next = id
	return false
}

// end flushes the text held back (an incomplete character, a possible
// stop-string start) once generation has ended without a stop string.
func (sq *seq) end() {
	if stopped, _ := sq.out.write(sq.dec.Flush()); stopped {
		sq.res.FinishReason = FinishStop
	} else {
		sq.out.flush()
	}
	sq.finish(nil)
}

// finish fills in the result; err is why the sequence ended early.
func (sq *seq) finish(err error) {
	if sq.decStart.IsZero() {
		sq.decStart = time.Now()
	}
	res := finishResult(sq.res, &sq.out, sq.decoded, sq.decStart)
	sq.mu.Lock()
	sq.res, sq.err = res, err
	sq.mu.Unlock()
}

// Sequences is Parallel with its default: how many generations a model
// runs at once, each with its own KV cache.
func (c Config) Sequences() int {
	if c.Parallel > 0 {
		return c.Parallel
	}
	return DefaultParallel
}

func (m *Model) parallel() int { return m.cfg.Sequences() }

// chunk is the prompt tokens per pass: Config.Batch with its default.
func (m *Model) chunk() int {
	if m.cfg.Batch > 0 {
		return m.cfg.Batch
	}
	return llama.DefaultBatch
}
