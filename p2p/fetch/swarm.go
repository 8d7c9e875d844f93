package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Swarm scheduling: with partial holders among the peers, pieces are
// drawn per peer from what that peer holds (see takeSwarm).
const (
	// swarmDepthPartial is the pieces a partial holder may owe at once:
	// few, so a want is bound to a holder late, when it has room (a
	// holder's upload is shared by everyone asking it).
	swarmDepthPartial = 2
	// swarmOwedPartial is the pieces all partial holders together may owe
	// this node: about what a node's share of the swarm's upload delivers
	// in the time a holder's queue of requests takes, so wants are bound
	// late (to holders with room, once the block has spread) and holders'
	// queues stay short (each served block spreads sooner).
	swarmOwedPartial = 8
	// swarmPollPeers is how many partial holders a node polls at the
	// full HaveInterval; with more, each is polled less often, so a
	// node hears about as many have-sets per second in any swarm.
	swarmPollPeers = 20
	// swarmDepthFull is the pieces a full holder may owe at once while
	// partial holders take part: its upload is the swarm's scarce
	// resource, and a deep pipeline only makes receivers ask it for the
	// same blocks before they see each other's have-sets.
	swarmDepthFull = 1
	// swarmStealGain is how much sooner an idle partial holder must be
	// expected to deliver a piece another peer owes before it doubles it
	// while wants are still queued.
	swarmStealGain = 0.25 // seconds
	// swarmPatience is how long a receiver that got no block waits before
	// it asks a full holder for blocks another partial holder is to fetch.
	swarmPatience = time.Second
)

// applyHave folds a have frame into p's have-set.
func (p *peerState) applyHave(h Have) {
	switch h.Mode {
	case HaveAll:
		p.partial, p.hbits, p.hleaves = false, nil, 0
	case HaveBits:
		p.partial = true
		if h.Leaves == 0 {
			break // still fetching the structure: holds no leaf yet
		}
		p.hleaves = h.Leaves
		p.hbits = make([]uint64, (h.Leaves+63)/64)
		for i, b := range h.Bits {
			p.hbits[i/8] |= uint64(b) << (8 * (i % 8))
		}
	case HaveDelta:
		p.partial = true
		if h.Leaves != p.hleaves {
			p.hgen = 0 // out of step: the next answer is a bitfield
			return
		}
		for _, i := range h.Added {
			p.hbits[i/64] |= 1 << (i % 64)
		}
	}
	p.hgen = h.Gen
}

// askHave asks s's peer for its have-set of root past generation since.
func askHave(s *session, root cid.Cid, since uint64, timeout time.Duration) (Have, error) {
	if err := s.send(Request{Kind: KindHave, Root: root, Since: since}); err != nil {
		return Have{}, err
	}
	fr, err := s.read(timeout)
	if err != nil {
		return Have{}, fmt.Errorf("have: %w", err)
	}
	switch fr.Type {
	case FrameHave:
	case FrameError:
		return Have{}, errors.New("have refused: " + fr.Msg)
	default:
		return Have{}, fmt.Errorf("have: answered with frame type %d", fr.Type)
	}
	end, err := s.read(timeout)
	if err != nil {
		return Have{}, fmt.Errorf("have: %w", err)
	}
	if end.Type != FrameEnd {
		return Have{}, fmt.Errorf("have: frame type %d after the have frame", end.Type)
	}
	return fr.Have, nil
}

// pollHaves keeps p's have-set current for the running fetch: one request
// at a time on a stream of its own, each answered when p's set changes
// (or after the server's HaveWait), at most one per HaveInterval. It
// ends when p is complete, dropped, or the fetch ends; a failed request
// drops p (a holder that died while idle is noticed here).
func (f *fetcher) pollHaves(ctx context.Context, s *sched, p *peerState) {
	sess, err := openSessionBuf(ctx, f.c.h, p.id, f.opts.Transport, haveBuf)
	if err != nil {
		if ctx.Err() == nil {
			s.dropPeer(p, "have: "+err.Error())
		}
		return
	}
	defer sess.close()
	stop := context.AfterFunc(ctx, sess.close)
	defer stop()
	for {
		s.mu.Lock()
		since, active := p.hgen, p.live && p.partial && !p.seed
		s.mu.Unlock()
		if !active || ctx.Err() != nil {
			return
		}
		t0 := time.Now()
		h, err := askHave(sess, f.root, since, f.opts.StallTimeout)
		if err != nil {
			if ctx.Err() == nil {
				s.dropPeer(p, err.Error())
			}
			return
		}
		s.applyHave(p, h)
		t := time.NewTimer(s.haveInterval(f.opts.HaveInterval) - time.Since(t0))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// haveInterval is the least time between two have requests to one
// partial holder: base, stretched in proportion beyond swarmPollPeers
// live partial holders (a node of a swarm of hundreds would otherwise
// spend its CPU on have-sets).
func (s *sched) haveInterval(base time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.f.peers {
		if q.live && q.partial && !q.seed {
			n++
		}
	}
	if n <= swarmPollPeers {
		return base
	}
	return base * time.Duration(n) / swarmPollPeers
}

// applyHave folds a have frame into p's have-set and wakes p's worker:
// p may now serve what it could not. Other workers' choices do not
// grow with p's set (a full holder's only shrink), so they sleep on: in
// a large swarm waking every worker on every have-set was most of the
// scheduler's CPU.
func (s *sched) applyHave(p *peerState, h Have) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.Mode == HaveAll && p.partial && s.nleaves > 0 {
		// A fellow fetcher completed: it serves everything now, and is
		// asked like the partial holder it was, not spared like an
		// origin (its upload is idle otherwise).
		p.seed, p.hgen = true, h.Gen
		s.wake(p)
		return
	}
	wasSwarm := s.swarm
	p.applyHave(h)
	if p.partial && s.nleaves > 0 {
		s.swarm = true
	}
	if s.swarm != wasSwarm {
		s.notify() // every worker now takes as in a swarm
		return
	}
	s.wake(p)
}

// wake wakes p's worker if it is parked in take.
func (s *sched) wake(p *peerState) {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// partialOwed counts the pieces live partial holders owe this node.
func (s *sched) partialOwed() int {
	n := 0
	for _, q := range s.f.peers {
		if q.live && q.partial {
			n += len(q.inflight)
		}
	}
	return n
}

// holds says whether p holds want w, as far as its have-set says.
func (s *sched) holds(p *peerState, w int) bool {
	if !p.partial || p.seed {
		return true
	}
	l := s.wants[w].leaf
	return s.nleaves > 0 && p.hleaves == s.nleaves && l >= 0 && p.hbits[l/64]&(1<<(l%64)) != 0
}

// rarity counts the live partial holders of w.
func (s *sched) rarity(w int) int {
	n := 0
	for _, q := range s.f.peers {
		if q.live && q.partial && s.holds(q, w) {
			n++
		}
	}
	return n
}

// nearerHolder says whether a live partial holder of w clearly nearer
// than p has room for it: among equally rare blocks, the nearest holder
// serves.
func (s *sched) nearerHolder(p *peerState, w int) bool {
	for _, q := range s.f.peers {
		if q != p && q.live && q.partial && len(q.inflight) < swarmDepthPartial &&
			rttWeight(p.rtt, q.rtt) < 0.5 && s.holds(q, w) {
			return true
		}
	}
	return false
}

// ownerScore ranks the fetchers of a leaf (rendezvous hashing): of the
// node and the partial holders it fetches with, the highest score asks a
// full holder for the leaf, the others wait to get it from that one.
// Every fetcher computes the same scores, so the full holder sends about
// one copy of each leaf.
func ownerScore(id peer.ID, leaf int) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	x := h.Sum64() ^ uint64(leaf)*0x9e3779b97f4a7c15
	// splitmix64 finaliser: nearby leaves get unrelated owners.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// mayOriginate says whether full holder p may send w: only blocks no
// partial holder has (so the full holder's upload goes to new blocks),
// and of those the ones this node is to fetch first (ownerScore) — or
// any, once nobody owes this node a block and none came for its
// patience.
func (s *sched) mayOriginate(p *peerState, w int) bool {
	if s.rarity(w) > 0 {
		return false
	}
	if len(p.inflight) == 0 && !s.owing() && time.Since(s.lastGot) > s.patience(p) {
		return true
	}
	leaf := s.wants[w].leaf
	mine := ownerScore(s.self, leaf)
	for _, q := range s.f.peers {
		if q.live && q.partial && ownerScore(q.id, leaf) > mine {
			return false
		}
	}
	return true
}

// patience is how long a node that got nothing waits for the owners of
// the blocks it lacks before it asks full holder p itself: swarmPatience,
// or three pieces' time at p's delivery rate to this node when that is
// longer (an owner's piece from a busy origin takes as long).
func (s *sched) patience(p *peerState) time.Duration {
	d := swarmPatience
	if p.rate > 0 {
		d = max(d, time.Duration(3*float64(s.swarmPiece)/p.rate*float64(time.Second)))
	}
	return d
}

// takeSwarm hands p a piece of wants it holds while partial holders take
// part: rarest first (ties in a random order of this fetch, so fetchers
// starting together ask for different blocks), the nearest holder first
// among equals; a full holder only sends what mayOriginate allows. An
// idle partial holder steals at the very end like any peer; a full
// holder does not (its upload is for blocks nobody has).
func (s *sched) takeSwarm(p *peerState) *assignment {
	if p.partial && s.nleaves == 0 {
		return nil // its have-set cannot be mapped to this round's wants
	}
	depth := swarmDepthPartial
	if !p.partial {
		depth = swarmDepthFull
	}
	if len(p.inflight) >= depth || p.partial && s.partialOwed() >= swarmOwedPartial {
		return nil
	}
	if pc := s.pickSwarm(p); pc != nil {
		return s.assign(p, pc)
	}
	// An idle partial holder with nothing queued for it doubles a piece
	// another peer owes: at the true end (nothing queued) whenever that
	// is sooner, before it only when that gains swarmStealGain (each copy
	// costs a capped upload, but a holder of rare blocks has a long
	// queue of requesters, and the block may have spread since it was
	// asked of that holder).
	if p.partial && len(p.inflight) == 0 {
		if a := s.steal(p); a != nil {
			return a
		}
	}
	return nil
}

type swarmCand struct {
	pc     *piece
	w      int
	rarity int
	tie    uint64
}

// pickSwarm takes p's next piece out of the queue: the rarest wants p
// holds, up to the swarm piece size (a want of a piece some peer lacked
// goes alone, keeping its exclusions).
func (s *sched) pickSwarm(p *peerState) *piece {
	var cands []swarmCand
	for _, pc := range s.queue {
		if pc.exclude[p.id] {
			continue
		}
		for _, w := range pc.idx {
			if !s.holds(p, w) {
				continue
			}
			if p.partial && s.nearerHolder(p, w) || !p.partial && !s.mayOriginate(p, w) {
				continue
			}
			cands = append(cands, swarmCand{pc: pc, w: w, rarity: s.rarity(w), tie: s.tie[w]})
		}
	}
	if len(cands) == 0 {
		return nil
	}
	slices.SortFunc(cands, func(a, b swarmCand) int {
		if a.rarity != b.rarity {
			return a.rarity - b.rarity
		}
		return cmp.Compare(a.tie, b.tie)
	})
	out := &piece{exclude: cands[0].pc.exclude}
	for _, c := range cands {
		if len(out.idx) > 0 && (len(c.pc.exclude) > 0 || len(out.exclude) > 0 || out.bytes+s.wants[c.w].size > s.swarmPiece) {
			break
		}
		out.idx = append(out.idx, c.w)
		out.bytes += s.wants[c.w].size
		s.unqueue(c.pc, c.w)
	}
	return out
}

// unqueue takes want w out of queued piece pc (and pc out of the queue
// when it is empty).
func (s *sched) unqueue(pc *piece, w int) {
	if i := slices.Index(pc.idx, w); i >= 0 {
		pc.idx = slices.Delete(pc.idx, i, i+1)
		pc.bytes -= s.wants[w].size
	}
	if len(pc.idx) == 0 {
		if i := slices.Index(s.queue, pc); i >= 0 {
			s.queue = slices.Delete(s.queue, i, i+1)
		}
	}
}

// growing says whether a live partial holder may yet receive blocks the
// node lacks: while one does, parked workers are no stall.
func (s *sched) growing() bool {
	for _, q := range s.f.peers {
		if q.live && q.partial && !q.seed {
			return true
		}
	}
	return false
}

// partials says whether a live partial holder (or seed) takes part: then
// pieces are drawn per peer (takeSwarm).
func (s *sched) partials() bool {
	for _, q := range s.f.peers {
		if q.live && q.partial {
			return true
		}
	}
	return false
}

// watch runs beside a fetch with partial holders: it wakes parked
// full holders' workers every tick (a full holder may send any block once the node has waited
// swarmPatience) and ends the fetch when no block arrived for
// StallTimeout with nothing owed.
func (s *sched) watch(ctx context.Context, stall time.Duration) {
	t := time.NewTicker(swarmPatience / 4)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.done:
			return
		case <-ctx.Done():
			return
		}
		s.mu.Lock()
		if s.swarm && s.waiting > 0 {
			if time.Since(s.lastGot) > stall && !s.owing() {
				s.finish(fmt.Errorf("%d blocks left and no block from any holder for %v", s.left, stall))
			} else {
				// Time only changes what full holders may send
				// (mayOriginate's patience).
				for _, q := range s.f.peers {
					if q.live && !q.partial {
						s.wake(q)
					}
				}
			}
		}
		s.mu.Unlock()
	}
}

// owing says whether some live peer owes a block.
func (s *sched) owing() bool {
	for _, q := range s.f.peers {
		if q.live && len(q.inflight) > 0 {
			return true
		}
	}
	return false
}

// AskHave asks peer p for its have-set of root past generation since (0:
// the whole set): "all" from a full holder, a bitfield or the leaves
// added since from a node fetching root. Naming the generation p last
// sent makes p answer when its set next changes (or after its HaveWait):
// call it in a loop to follow a holder.
func AskHave(ctx context.Context, h host.Host, p peer.ID, root cid.Cid, since uint64) (Have, error) {
	s, err := openSessionBuf(ctx, h, p, "", haveBuf)
	if err != nil {
		return Have{}, err
	}
	defer s.close()
	stop := context.AfterFunc(ctx, s.close)
	defer stop()
	hv, err := askHave(s, root, since, 30*time.Second)
	if err != nil && ctx.Err() != nil {
		return Have{}, ctx.Err()
	}
	return hv, err
}

// Holds says whether leaf i is in the set this Have describes (a delta
// names only what was added).
func (h Have) Holds(i int) bool {
	switch h.Mode {
	case HaveAll:
		return true
	case HaveBits:
		return i >= 0 && i < h.Leaves && h.Bits[i/8]&(1<<(i%8)) != 0
	}
	return slices.Contains(h.Added, uint32(i))
}
