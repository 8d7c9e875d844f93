package fetch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// piece is a run of wants (indexes into sched.wants) asked in one request.
type piece struct {
	idx     []int
	bytes   int64
	exclude map[peer.ID]bool // peers that said they lack one of its blocks
}

// assignment is a piece requested from one peer.
type assignment struct {
	piece   *piece
	peer    *peerState
	pos     int   // next want expected on the stream
	missing []int // wants the peer said it lacks
	stolen  bool  // a duplicate was handed to an idle peer
	sent    time.Time
}

// sched hands pieces to peers: nearest (and fastest) first by weighted
// share, everyone busy, the queue's tail stolen by idle peers at the end.
type sched struct {
	f     *fetcher
	mu    sync.Mutex
	wants []want
	got   []bool
	left  int
	queue []*piece
	total int64 // bytes handed out
	piece int64 // piece size of this round
	err   error
	// workers counts the running workers, waiting those parked in take
	// on the current changed channel (they saw the current state and found
	// nothing to take; notify wakes them all and zeroes it): when every
	// worker is parked and nothing is in flight, nothing can change any
	// more and the fetch ends with an error rather than waiting forever.
	workers int
	waiting int
	// changed is closed and replaced whenever a waiting peer may now find
	// work (or the fetch ended): on every change of the queue, the peers'
	// shares (assign, complete) or the live peers.
	changed chan struct{}
	done    chan struct{}
	// Swarm mode (see swarm.go): swarm is set once a partial holder takes
	// part and the leaves are known (nleaves > 0); tie orders equally
	// rare wants, self is this node (for ownerScore), lastGot when the
	// last block arrived.
	swarm      bool
	nleaves    int
	swarmPiece int64
	tie        []uint64
	self       peer.ID
	lastGot    time.Time
}

// rttFloor is added to every round trip before comparing them: peers
// within a few milliseconds of each other count as equally near.
const rttFloor = 5 * time.Millisecond

// weight is p's claim on the pieces: round trips far above the best one
// count against a peer (nearest first), and so does a delivery rate far
// below the best peer's (work goes to those that deliver). Small
// differences are ignored so that equal peers share evenly.
func (s *sched) weight(p *peerState, bestRTT time.Duration, bestRate float64) float64 {
	w := rttWeight(p.rtt, bestRTT)
	if p.rated() && bestRate > 0 {
		if r := p.rate / bestRate; r < 0.25 {
			w *= max(r, 0.02)
		}
	}
	return w
}

// mayTake says whether p may take piece pc without exceeding its share
// of everything handed out by more than one piece. Shares are among the
// peers that can serve pc: a piece only one peer has is that peer's.
//
// "One piece" is the round's piece size or pc itself when pc is larger
// (a block bigger than the piece size is a piece alone). With that
// allowance some peer that can serve pc may always take it: were every
// one of them refused, their assigned bytes would exceed all bytes handed
// out plus pc. Without it, a piece larger than the piece size was refused
// by every peer when three or more could serve it, and the fetch hung.
func (s *sched) mayTake(p *peerState, pc *piece) bool {
	bestRTT, bestRate := time.Duration(1<<62), 0.0
	eligible := 0
	for _, q := range s.f.peers {
		if s.shares(p, q, pc) {
			eligible++
			bestRTT = min(bestRTT, q.rtt)
			if q.rated() {
				bestRate = max(bestRate, q.rate)
			}
		}
	}
	if eligible <= 1 {
		return true
	}
	var sum float64
	for _, q := range s.f.peers {
		if s.shares(p, q, pc) {
			sum += s.weight(q, bestRTT, bestRate)
		}
	}
	share := s.weight(p, bestRTT, bestRate) / sum
	n := pc.bytes
	if float64(p.assigned+n) <= share*float64(s.total+n)+float64(max(s.piece, n)) {
		return true
	}
	// Over its share, an idle peer about as near as the nearest and
	// clearly faster than the others still takes work (a faster peer takes
	// more); a far one waits, which is what keeps the bulk on the nearest,
	// and equal peers keep to even shares.
	if len(p.inflight) > 0 || rttWeight(p.rtt, bestRTT) < 0.5 || !p.rated() {
		return false
	}
	fastest := 0.0
	for _, q := range s.f.peers {
		if q != p && q.live && !pc.exclude[q.id] && q.rated() {
			fastest = max(fastest, q.rate)
		}
	}
	return p.rate >= 2*fastest
}

// shares says whether q counts in p's share of pc: a live peer that may
// serve pc, or one still probing that the node knows (Options.RTT) to be
// about as near as p or nearer. So the peer that answered first does not
// run off with the pieces while the answers of equal or nearer peers are
// on their way (it runs one piece ahead of its share, as always), and a
// near peer never waits for a clearly farther one.
func (s *sched) shares(p, q *peerState, pc *piece) bool {
	if pc.exclude[q.id] {
		return false
	}
	if q.live {
		return true
	}
	return !q.probed && !q.lacking.Load() && q.hint > 0 && q != p && rttWeight(q.hint, p.rtt) >= 0.5
}

func rttWeight(rtt, best time.Duration) float64 {
	return float64(rttFloor+best) / float64(rttFloor+rtt)
}

func (s *sched) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
	s.waiting = 0 // all woken: each looks at the new state again
}

func (s *sched) finish(err error) {
	if s.err == nil && s.left > 0 {
		s.err = err
	}
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.notify()
}

// take returns the next assignment for p, or nil. With wait set it blocks
// until there is one, the fetch ends, or ctx ends.
func (s *sched) take(ctx context.Context, p *peerState, wait bool) *assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.left == 0 || s.err != nil || !p.live {
			return nil
		}
		if a := s.takeLocked(p); a != nil {
			return a
		}
		if !wait {
			return nil
		}
		// The channel is read under the lock that guards the state just
		// checked, so a change after this point closes it.
		ch := s.changed
		s.waiting++
		s.checkStalled()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-p.wake:
		case <-ctx.Done():
		}
		s.mu.Lock()
		if ch == s.changed {
			s.waiting-- // woken by its have-set or ctx, not by notify
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// exited records that a worker returned.
func (s *sched) exited() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.workers--
	s.checkStalled()
}

// checkStalled ends the fetch when no progress is possible: blocks are
// left, yet every worker is parked in take (it found nothing it may take
// in the current state, and only a worker's own actions change that state)
// and no peer owes a block. The share rule and the wake-ups make this
// unreachable; the check turns a scheduling bug into an error naming the
// blocks left instead of a fetch that never returns.
func (s *sched) checkStalled() {
	if s.left == 0 || s.err != nil || s.waiting < s.workers || s.f.pending > 0 {
		return // a peer still probing may yet join and take the rest
	}
	if s.swarm && s.growing() {
		return // a partial holder may yet get what is left (see watch)
	}
	for _, q := range s.f.peers {
		if q.live && len(q.inflight) > 0 {
			return
		}
	}
	first := "none queued"
	if len(s.queue) > 0 {
		first = s.wants[s.queue[0].idx[0]].c.String()
	}
	s.finish(fmt.Errorf("%d blocks left (first %s) but no peer takes or owes any", s.left, first))
}

// takeLocked returns p's next assignment, or nil: with partial holders in
// the fetch from what each holds (takeSwarm), else from the queue by
// weighted share, and at the end by stealing.
func (s *sched) takeLocked(p *peerState) *assignment {
	// A node that records a have-set may be one of many fetching at once:
	// until every probe answered, it takes as if partial holders took
	// part, so it does not ask the origin for a deep pipeline of blocks
	// that its peers are about to ask for too.
	// Once every partial holder is gone, the full holders share the rest
	// as usual (one that completed during the fetch stays a partial
	// holder: a seed).
	cautious := s.nleaves > 0 && s.f.hs != nil && s.f.awaited() > 0
	if s.swarm && s.partials() || p.partial || cautious {
		return s.takeSwarm(p)
	}
	a, idle := s.takeQueued(p)
	if a != nil || !idle {
		return a
	}
	return s.steal(p)
}

// takeQueued hands p the first queued piece its share allows. idle says
// that p owes nothing and the queue holds nothing p could serve: only
// then may it steal.
func (s *sched) takeQueued(p *peerState) (a *assignment, idle bool) {
	capped := false   // over share for pieces every peer can serve
	servable := false // the queue holds a piece p could serve
	for i, pc := range s.queue {
		if pc.exclude[p.id] {
			continue
		}
		servable = true
		if capped && len(pc.exclude) == 0 {
			continue
		}
		if !s.mayTake(p, pc) {
			capped = capped || len(pc.exclude) == 0
			continue
		}
		s.queue = append(s.queue[:i], s.queue[i+1:]...)
		return s.assign(p, pc), false
	}
	return nil, len(p.inflight) == 0 && !servable
}

// steal is the endgame: an idle peer doubles a piece another peer still
// owes, whichever copy arrives first wins. It picks the piece whose owner
// would deliver it last (the tail of the owner's pipeline), and only
// when it would itself deliver it sooner, so equal peers do not race
// each other for nothing.
func (s *sched) steal(p *peerState) *assignment {
	var victim *assignment
	var gain float64
	now := time.Now()
	for _, q := range s.f.peers {
		if q == p || !q.live || len(q.inflight) == 0 {
			continue
		}
		if a, g := s.stealFrom(p, q, now); a != nil && g > gain && (len(s.queue) == 0 || !p.partial || g >= swarmStealGain) {
			victim, gain = a, g
		}
	}
	if victim == nil {
		return nil
	}
	victim.stolen = true
	dup := &piece{exclude: victim.piece.exclude}
	for _, w := range victim.piece.idx[victim.pos:] {
		if !s.got[w] {
			dup.idx = append(dup.idx, w)
			dup.bytes += s.wants[w].size
		}
	}
	a := s.assign(p, dup)
	a.stolen = true
	return a
}

// stealFrom returns the piece of q's pipeline p would gain most by
// doubling, and the gain in seconds; nil when none is worth it.
func (s *sched) stealFrom(p, q *peerState, now time.Time) (*assignment, float64) {
	// A peer clearly farther than p is raced whenever p is idle,
	// measured or not (it may not have delivered a byte yet): the end
	// never waits on a far link while a near peer has nothing to do,
	// and a duplicate costs less than that wait. Between peers about
	// as near, only measured rates justify a race.
	farther := rttWeight(q.rtt, p.rtt) < 0.5
	if q.rate == 0 && !farther {
		return nil, 0 // nothing measured yet: no basis to race
	}
	// A far peer that has delivered nothing is expected one round
	// trip after its first request, then at p's rate.
	var wait time.Duration
	qrate := q.rate
	if q.samples == 0 {
		if head := q.inflight[0]; head.pos == 0 && !head.sent.IsZero() {
			wait = max(0, head.sent.Add(q.rtt).Sub(now))
		}
		qrate = p.rate
	}
	rate := p.rate
	if rate == 0 {
		rate = q.rate
	}
	var victim *assignment
	var gain float64
	var ahead int64 // bytes q delivers before and with this piece
	for _, a := range q.inflight {
		owed := s.owed(a)
		ahead += owed
		if a.stolen || owed == 0 || a.piece.exclude[p.id] || !s.holdsRest(p, a) {
			continue
		}
		var g float64
		if qrate > 0 && rate > 0 {
			theirs := wait.Seconds() + float64(ahead)/qrate
			ours := 2*p.rtt.Seconds() + float64(owed)/rate
			g = theirs - ours
		}
		if farther && g <= 0 {
			g = 1e-9 // the estimates favour q, but p is idle and near
		} else if !farther && (qrate == 0 || rate == 0) {
			continue
		}
		if g > gain {
			victim, gain = a, g
		}
	}
	return victim, gain
}

// holdsRest says whether p holds every want a still owes.
func (s *sched) holdsRest(p *peerState, a *assignment) bool {
	if !p.partial {
		return true
	}
	for _, w := range a.piece.idx[min(a.pos, len(a.piece.idx)):] {
		if !s.got[w] && !s.holds(p, w) {
			return false
		}
	}
	return true
}

// owed is what a still has to deliver (unknown sizes count 1).
func (s *sched) owed(a *assignment) int64 {
	var n int64
	for _, w := range a.piece.idx[min(a.pos, len(a.piece.idx)):] {
		if !s.got[w] {
			n += max(s.wants[w].size, 1)
		}
	}
	return n
}

func (s *sched) assign(p *peerState, pc *piece) *assignment {
	a := &assignment{piece: pc, peer: p}
	p.inflight = append(p.inflight, a)
	p.assigned += pc.bytes
	s.total += pc.bytes
	// More handed out raises every other peer's allowance: a parked
	// peer may now take a piece.
	if s.waiting > 0 {
		s.notify()
	}
	return a
}

// received records want w from p; it returns false for a duplicate.
func (s *sched) received(w int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.got[w] {
		return false
	}
	s.got[w] = true
	s.left--
	s.lastGot = time.Now()
	if s.left == 0 {
		s.finish(nil)
	}
	return true
}

// complete retires p's oldest assignment, updates p's delivery rate, and
// re-queues the blocks p said it lacks.
func (s *sched) complete(a *assignment, prevEnd time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := a.peer
	p.inflight = p.inflight[1:]
	now := time.Now()
	// The piece flowed from when the previous one ended, or from when it
	// was asked if the pipeline had run dry (waiting is not slowness).
	began := prevEnd
	if a.sent.After(began) {
		began = a.sent
	}
	if d := now.Sub(began); d > 0 && a.piece.bytes > 0 {
		r := float64(a.piece.bytes) / d.Seconds()
		if p.samples == 0 {
			p.rate = r
		} else {
			p.rate = 0.7*p.rate + 0.3*r
		}
		p.samples++
	}
	p.lastEnd = now
	if len(a.missing) > 0 {
		ex := map[peer.ID]bool{p.id: true}
		for id := range a.piece.exclude {
			ex[id] = true
		}
		s.requeue(a.missing, ex)
	}
	s.notify()
}

// requeue puts the wants of idx not yet received at the queue's front.
func (s *sched) requeue(idx []int, exclude map[peer.ID]bool) {
	pc := &piece{exclude: exclude}
	for _, w := range idx {
		if !s.got[w] {
			pc.idx = append(pc.idx, w)
			pc.bytes += s.wants[w].size
		}
	}
	if len(pc.idx) == 0 {
		return
	}
	s.queue = append([]*piece{pc}, s.queue...)
	s.checkServable()
	s.notify()
}

// checkServable ends the fetch when a queued block is lacked by every
// live peer, or no peer is left.
func (s *sched) checkServable() {
	live := 0
	for _, q := range s.f.peers {
		if q.live {
			live++
		}
	}
	if s.f.pending > 0 {
		return // a peer still probing may have what the others lack
	}
	if live == 0 {
		s.finish(errors.New("no peer left to fetch from"))
		return
	}
	for _, pc := range s.queue {
		lacking := 0
		for _, q := range s.f.peers {
			if q.live && pc.exclude[q.id] {
				lacking++
			}
		}
		if lacking == live {
			s.finish(fmt.Errorf("block %s: no live peer has it", s.wants[pc.idx[0]].c))
			return
		}
	}
}

// dropPeer takes p out and re-queues everything it still owed.
func (s *sched) dropPeer(p *peerState, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !p.live {
		return
	}
	s.f.drop(p, why)
	for _, a := range p.inflight {
		rest := append(append([]int(nil), a.missing...), a.piece.idx[min(a.pos, len(a.piece.idx)):]...)
		s.requeue(rest, a.piece.exclude)
	}
	p.inflight = nil
	s.checkServable()
	s.notify()
}

// join admits p, whose probe just answered, into the running fetch: a
// live peer gets a worker (start runs it, counted before it runs), a
// failed one may leave a block nobody can serve.
func (s *sched) join(p *peerState, start func(*session), poll func(*peerState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f.admit(p)
	if p.live && p.sess != nil && s.err == nil && s.left > 0 {
		p.assigned, p.inflight = 0, nil
		s.workers++
		start(p.sess)
		if p.partial && s.nleaves > 0 {
			s.swarm = true
			poll(p)
		}
	}
	s.checkServable()
	s.checkStalled()
	s.notify()
}

// newSched queues the wants in pieces for this round.
func (f *fetcher) newSched(ws []want) *sched {
	s := &sched{
		f: f, wants: ws, got: make([]bool, len(ws)), left: len(ws),
		changed: make(chan struct{}), done: make(chan struct{}),
		nleaves: f.nleaves, tie: make([]uint64, len(ws)), self: f.c.h.ID(), lastGot: time.Now(),
	}
	for i := range s.tie {
		s.tie[i] = rand.Uint64()
	}
	var total int64
	for _, w := range ws {
		total += w.size
	}
	f.total.Store(total)
	// Peers still probing count: they are expected to join.
	live := len(f.ranked()) + f.pending
	// Pieces small enough that every peer gets a dozen or more.
	s.piece = min(int64(f.opts.PieceSize), max(total/int64(16*live), 256<<10))
	// Swarm pieces are a block or about a MiB: small enough that a
	// fetcher passes a block on soon after it arrived.
	s.swarmPiece = min(s.piece, 1<<20)
	var pc *piece
	for i := range ws {
		if ws[i].size <= 0 {
			ws[i].size = 256 << 10 // unknown: a typical block
		}
		w := ws[i]
		if pc == nil || pc.bytes+w.size > s.piece || len(pc.idx) >= MaxRequestCIDs {
			pc = &piece{}
			s.queue = append(s.queue, pc)
		}
		pc.idx = append(pc.idx, i)
		pc.bytes += w.size
	}
	for _, p := range f.peers {
		p.assigned, p.inflight = 0, nil
	}
	return s
}

// fetchWants fetches the wants from the live peers and stores them.
func (f *fetcher) fetchWants(ctx context.Context, ws []want) error {
	s := f.newSched(ws)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wr := newWriter(wctx, f.c.bs, f.opts.WriteBatch, f.hs, f.opts.OnBlock)
	var wg sync.WaitGroup
	poll := func(p *peerState) { wg.Go(func() { f.pollHaves(wctx, s, p) }) }
	wg.Go(func() { s.watch(wctx, f.opts.StallTimeout) })
	type start struct {
		p    *peerState
		sess *session
	}
	var starts []start
	for _, p := range f.ranked() {
		sess, err := f.session(ctx, p)
		if err != nil {
			s.dropPeer(p, err.Error())
			continue
		}
		starts = append(starts, start{p, sess})
	}
	// Every worker counts before any runs: the stall check must not
	// mistake the first one parked for all of them.
	s.mu.Lock()
	s.workers = len(starts)
	for _, w := range starts {
		if w.p.partial && s.nleaves > 0 {
			s.swarm = true
			poll(w.p)
		}
	}
	s.checkStalled()
	s.mu.Unlock()
	for _, w := range starts {
		wg.Go(func() {
			defer s.exited()
			f.worker(wctx, s, wr, w.p, w.sess)
		})
	}
	if f.pending > 0 {
		// Peers whose probes answer now join the running fetch.
		wg.Go(func() {
			for {
				select {
				case p := <-f.probes:
					s.join(p, func(sess *session) {
						wg.Go(func() {
							defer s.exited()
							f.worker(wctx, s, wr, p, sess)
						})
					}, poll)
				case <-s.done:
					return
				case <-wctx.Done():
					return
				}
				s.mu.Lock()
				pending := f.pending
				s.mu.Unlock()
				if pending == 0 {
					return
				}
			}
		})
	}
	select {
	case <-s.done:
	case <-ctx.Done():
	case <-wr.failed:
	}
	cancel()
	return f.endRound(ctx, s, wr, &wg)
}

// endRound stops the round's workers and reports how it ended.
func (f *fetcher) endRound(ctx context.Context, s *sched, wr *writer, wg *sync.WaitGroup) error {
	s.mu.Lock()
	for _, p := range f.peers {
		// Unblock workers reading duplicates or waiting on a stream.
		if p.probed && p.sess != nil && len(p.inflight) > 0 {
			p.sess.close()
		}
	}
	s.finish(errors.New("fetch cancelled"))
	s.mu.Unlock()
	wg.Wait()
	for _, p := range f.peers {
		if p.probed && p.inflight != nil {
			f.resetSession(p) // its stream still carries answers we dropped
		}
	}
	werr := wr.close()
	if werr != nil {
		return werr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left > 0 {
		return s.err
	}
	return nil
}

// worker drives one peer's stream: it keeps up to InFlight pieces
// requested and reads their blocks in order. Hashing a block takes about
// as long as reading it, so a second goroutine (checker) verifies and
// stores what the worker reads while it reads the next.
func (f *fetcher) worker(ctx context.Context, s *sched, wr *writer, p *peerState, sess *session) {
	ck := newChecker(f, s, wr, p)
	defer ck.close()
	var queued []*assignment // requested, in order
	read := 0                // frames of queued[0] read so far
	began := time.Now()      // when the head assignment started to flow
	lastSent := time.Now()
	for {
		for len(queued) < f.opts.InFlight {
			a := s.take(ctx, p, len(queued) == 0)
			if a == nil {
				break
			}
			if len(queued) == 0 && time.Since(lastSent) > idleReopen {
				// The server closes a stream idle for its IdleTimeout
				// (with an error frame that would drop p): ask on a
				// fresh one.
				ns, err := openSession(ctx, f.c.h, p.id, f.opts.Transport)
				if err != nil {
					s.dropPeer(p, err.Error()) // re-queues a too
					return
				}
				s.mu.Lock()
				sess.close()
				sess, p.sess = ns, ns
				s.mu.Unlock()
			}
			lastSent = time.Now()
			req := Request{Kind: KindCIDs, Root: f.root, CIDs: make([]cid.Cid, len(a.piece.idx))}
			for i, w := range a.piece.idx {
				req.CIDs[i] = s.wants[w].c
			}
			if err := sess.send(req); err != nil {
				s.dropPeer(p, err.Error())
				return
			}
			s.mu.Lock()
			a.sent = time.Now()
			s.mu.Unlock()
			queued = append(queued, a)
		}
		if len(queued) == 0 {
			return
		}
		a := queued[0]
		fr, err := sess.read(f.opts.StallTimeout)
		if ck.failed.Load() {
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				s.dropPeer(p, fmt.Sprintf("stream: %v", err))
			}
			return
		}
		if fr.Type == FrameBlock {
			// The node's download limit paces the reads; the
			// transport's flow control passes it on to the sender.
			if err := f.c.down.Wait(ctx, len(fr.Data)); err != nil {
				return
			}
		}
		switch fr.Type {
		case FrameBlock, FrameMissing:
			if read >= len(a.piece.idx) {
				s.dropPeer(p, fmt.Sprintf("protocol: unrequested block %s", fr.CID))
				return
			}
			w := a.piece.idx[read]
			if !fr.CID.Equals(s.wants[w].c) {
				s.dropPeer(p, fmt.Sprintf("protocol: got %s, want %s", fr.CID, s.wants[w].c))
				return
			}
			read++
			ck.check(a, w, fr)
		case FrameEnd:
			if read != len(a.piece.idx) {
				s.dropPeer(p, fmt.Sprintf("protocol: answer ended after %d of %d blocks", read, len(a.piece.idx)))
				return
			}
			if !ck.wait() {
				return
			}
			s.complete(a, began)
			began = time.Now()
			queued = queued[1:]
			read = 0
		case FrameError:
			s.dropPeer(p, (&RefusedError{Peer: p.id, Msg: fr.Msg}).Error())
			return
		}
	}
}

// idleReopen is how long a worker's stream may have carried no request
// before the worker opens a fresh one for the next: below the server's
// default IdleTimeout (60s), which a swarm's capped pipeline can reach.
const idleReopen = 30 * time.Second

// checker verifies the blocks one worker reads, in order, and hands the
// good ones to the writer. An assignment's pos counts the blocks checked,
// so a peer dropped for a bad block has that block and every later one
// re-queued.
type checker struct {
	f      *fetcher
	s      *sched
	wr     *writer
	p      *peerState
	jobs   chan checkJob
	busy   sync.WaitGroup // jobs not yet checked
	done   chan struct{}
	failed atomic.Bool // a bad block dropped the peer, or the writer failed
}

type checkJob struct {
	a  *assignment
	w  int
	fr Frame
}

func newChecker(f *fetcher, s *sched, wr *writer, p *peerState) *checker {
	ck := &checker{f: f, s: s, wr: wr, p: p, jobs: make(chan checkJob, 8), done: make(chan struct{})}
	go ck.run()
	return ck
}

func (ck *checker) check(a *assignment, w int, fr Frame) {
	ck.busy.Add(1)
	ck.jobs <- checkJob{a, w, fr}
}

// wait waits until every block read so far is checked and reports
// whether all were good.
func (ck *checker) wait() bool {
	ck.busy.Wait()
	return !ck.failed.Load()
}

func (ck *checker) close() {
	close(ck.jobs)
	<-ck.done
}

// run checks the jobs in order. A block is offered to Options.Check
// first; two blocks it declines, the second already queued behind the
// first, are verified together (verifyPair): when hashing holds the stream
// up, blocks queue and cost little more than half as much each.
func (ck *checker) run() {
	defer close(ck.done)
	for j := range ck.jobs {
		jobs := [2]checkJob{j}
		n := 1
		select {
		case next, open := <-ck.jobs:
			if open {
				jobs[1], n = next, 2
			}
		default:
		}
		errs := ck.verify(jobs[:n])
		for i := range n {
			if !ck.failed.Load() {
				ck.one(jobs[i], errs[i])
			}
			ck.busy.Done()
		}
	}
}

// verify checks one or two jobs' frames: through Options.Check where it
// takes them, the rest by hash, two together if two.
func (ck *checker) verify(jobs []checkJob) (errs [2]error) {
	rest := make([]int, 0, 2) // on the stack: no allocation per block
	for i, j := range jobs {
		if j.fr.Type != FrameBlock {
			continue
		}
		if check := ck.f.opts.Check; check != nil {
			if handled, ok := check(j.fr.CID, j.fr.Data); handled {
				if !ok {
					errs[i] = errHashMismatch
				}
				continue
			}
		}
		rest = append(rest, i)
	}
	switch len(rest) {
	case 2:
		errs[0], errs[1] = verifyPair(jobs[0].fr, jobs[1].fr)
	case 1:
		errs[rest[0]] = verifyFrame(jobs[rest[0]].fr)
	}
	return errs
}

// one records job j, whose block verified with err (nil for a missing
// block).
func (ck *checker) one(j checkJob, err error) {
	s, p, fr := ck.s, ck.p, j.fr
	if fr.Type == FrameMissing {
		s.mu.Lock()
		j.a.missing = append(j.a.missing, j.w)
		j.a.pos++
		s.mu.Unlock()
		return
	}
	if err != nil {
		ck.failed.Store(true)
		s.dropPeer(p, fmt.Sprintf("bad block %s: %v", fr.CID, err))
		return
	}
	if s.received(j.w) {
		b, _ := blocks.NewBlockWithCid(fr.Data, fr.CID)
		if !ck.wr.put(b, s.wants[j.w].leaf) {
			ck.failed.Store(true)
			return
		}
		p.bytes.Add(int64(len(fr.Data)))
		p.blocks.Add(1)
		ck.f.bytes.Add(int64(len(fr.Data)))
		ck.f.blocks.Add(1)
	} else {
		p.dups.Add(1)
	}
	s.mu.Lock()
	j.a.pos++
	s.mu.Unlock()
}
