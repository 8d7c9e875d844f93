package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// plan is placement and holders of one key, as this node sees them.
type plan struct {
	key       string
	intent    Intent
	pinned    bool
	placement Placement
	target    Target
	eligible  map[string]bool   // candidate ID → may hold
	holders   map[string]holder // live or in grace
	lost      []string          // holders gone longer than the grace period
	members   map[string]*sovereignty.Member
}

type holder struct {
	commit  string
	replica bool
	gone    bool // gone, within the grace period
}

// snapshot is one consistent view: candidates and what they hold.
type snapshot struct {
	nodes   []Node
	members map[string]*sovereignty.Member
	held    map[string]map[string]holder // key → node → holder
	lost    map[string][]string          // key → expired holders
}

// snapshotLocked builds the view; r.mu is held. local are this node's
// refs.
func (r *Service) snapshotLocked(now time.Time, local []store.Ref) snapshot {
	s := snapshot{members: map[string]*sovereignty.Member{}, held: map[string]map[string]holder{}, lost: map[string][]string{}}
	self := r.deps.Self
	selfID := r.h.ID().String()
	if self != nil {
		s.members[selfID] = self
		if r.mirror() {
			s.nodes = append(s.nodes, Node{ID: selfID, Jurisdiction: self.Jurisdiction, Region: self.Region, Capacity: r.capacity})
		}
	}
	add := func(node, key string, h holder) {
		if s.held[key] == nil {
			s.held[key] = map[string]holder{}
		}
		s.held[key][node] = h
	}
	for _, ref := range local {
		k := Key(ref.Kind, ref.Repo, ref.Revision)
		add(selfID, k, holder{commit: ref.Commit, replica: r.replicas[k]})
	}
	grace := r.cfg.Grace
	for p, pv := range r.peers {
		if m, ok := r.deps.Members.Member(p); ok {
			pv.member, pv.gone = m, time.Time{}
		} else if r.heardLately(pv, now) {
			pv.gone = time.Time{}
		} else if pv.gone.IsZero() {
			pv.gone = now
		}
		if !pv.have || pv.member == nil {
			continue
		}
		id := p.String()
		expired := !pv.gone.IsZero() && now.Sub(pv.gone) >= grace
		if expired {
			for _, x := range pv.holdings.Held {
				s.lost[x.Key()] = append(s.lost[x.Key()], id)
			}
			continue
		}
		s.members[id] = pv.member
		if pv.holdings.Mirror && pv.member.HasRole("mirror") {
			s.nodes = append(s.nodes, Node{ID: id, Jurisdiction: pv.member.Jurisdiction, Region: pv.member.Region, Capacity: pv.holdings.Capacity})
		}
		for _, x := range pv.holdings.Held {
			add(id, x.Key(), holder{commit: x.Commit, replica: x.Replica, gone: !pv.gone.IsZero()})
		}
	}
	sort.Slice(s.nodes, func(a, b int) bool { return s.nodes[a].ID < s.nodes[b].ID })
	return s
}

// target is what the policy and the intent ask for repo.
func (r *Service) target(i Intent) Target {
	e := r.deps.Policy
	pmin, pmax, in := e.Replicas(i.Repo)
	n := i.Replicas
	if n == 0 {
		n = pmin
	}
	if n == 0 {
		n = r.cfg.Replicas
	}
	n = max(n, pmin)
	if pmax > 0 {
		n = min(n, pmax)
	}
	return Target{Replicas: n, In: in, Covers: e.Covers}
}

// plansLocked computes the plan of every key in keys (every intent when
// nil); r.mu is held.
func (r *Service) plansLocked(s snapshot, intents []Intent) []plan {
	p := NewPlacer(s.nodes)
	if r.cfg.Balance > 0 {
		p.Balance = r.cfg.Balance
	}
	reqs := make([]Request, 0, len(intents))
	plans := make([]plan, 0, len(intents))
	for _, i := range intents {
		pl := plan{key: i.Key(), intent: i, pinned: !i.Removed, target: r.target(i), eligible: map[string]bool{}, holders: map[string]holder{}, members: s.members}
		elig := make([]bool, len(s.nodes))
		for k, n := range s.nodes {
			elig[k] = r.deps.Policy.Decide(sovereignty.Hold, i.Repo, s.members[n.ID]).Allow
			pl.eligible[n.ID] = elig[k]
		}
		for id, h := range s.held[pl.key] {
			if i.Commit == "" || h.commit == i.Commit {
				pl.holders[id] = h
			}
		}
		pl.lost = s.lost[pl.key]
		if i.Removed {
			elig = make([]bool, len(s.nodes)) // place nowhere
		}
		reqs = append(reqs, Request{Key: pl.key, Target: pl.target, Eligible: elig})
		plans = append(plans, pl)
	}
	for k, placed := range p.PlaceAll(reqs) {
		plans[k].placement = placed
	}
	return plans
}

// reconcile acts on this node's part of every plan.
func (r *Service) reconcile(ctx context.Context, wg *sync.WaitGroup) {
	local, err := r.deps.Store.Refs(ctx, "", "")
	if err != nil {
		r.log.Warn("replication: list refs", "err", err)
		return
	}
	now := time.Now()
	selfID := r.h.ID().String()
	r.mu.Lock()
	s := r.snapshotLocked(now, local)
	plans := r.plansLocked(s, r.intentsLocked())
	type job struct {
		pl   plan
		kind string
		why  string
	}
	var fetches, releases []job
	for _, pl := range plans {
		h, holds := pl.holders[selfID]
		chosen := slices.Contains(pl.placement.Chosen, selfID)
		if r.log.Enabled(ctx, slog.LevelDebug) {
			hs := make([]string, 0, len(pl.holders))
			for id := range pl.holders {
				hs = append(hs, id)
			}
			r.log.Debug("plan", "key", pl.key, "candidates", len(s.nodes), "chosen", pl.placement.Chosen, "holders", hs, "lost", pl.lost, "inflight", r.inflight[pl.key])
		}
		switch {
		case chosen && !holds && !r.inflight[pl.key] && !now.Before(r.retry[pl.key]):
			if other, ok := s.held[pl.key][selfID]; ok && !r.replicas[pl.key] {
				// This node's own ref of that name names another commit:
				// never overwrite what the operator put there.
				r.log.Warn("replication: local ref names another commit; not replacing it", "key", pl.key, "local", other.commit, "pinned", pl.intent.Commit)
				continue
			}
			kind, why := sovereignty.KindReplicate, fmt.Sprintf("placement chose this node (%d of %d)", slices.Index(pl.placement.Chosen, selfID)+1, len(pl.placement.Chosen))
			if len(pl.lost) > 0 {
				kind, why = sovereignty.KindRepair, fmt.Sprintf("holder %v gone longer than the grace period %s", pl.lost, r.cfg.Grace)
			}
			r.inflight[pl.key] = true
			fetches = append(fetches, job{pl, kind, why})
		case holds && h.replica && !chosen:
			switch {
			case !pl.pinned:
				releases = append(releases, job{pl, sovereignty.KindRelease, "intent removed (unpinned)"})
			case !pl.eligible[selfID] && s.members[selfID] != nil && !r.deps.Policy.Decide(sovereignty.Hold, pl.intent.Repo, s.members[selfID]).Allow:
				releases = append(releases, job{pl, sovereignty.KindRelease, "policy no longer lets this node hold it"})
			case r.releasable(pl, selfID):
				releases = append(releases, job{pl, sovereignty.KindRelease, fmt.Sprintf("surplus: the %d chosen nodes hold it", len(pl.placement.Chosen))})
			}
		}
	}
	r.mu.Unlock()
	for _, j := range releases {
		r.release(ctx, j.pl.intent, j.why)
	}
	for _, j := range fetches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.fetch(ctx, j.pl.intent, j.kind, j.why)
		}()
	}
}

// releasable: every chosen node holds the key (live), and self is the
// lowest ranked of the surplus holders that hold it as a replica, so
// surplus goes one node at a time and never below the target.
func (r *Service) releasable(pl plan, self string) bool {
	for _, c := range pl.placement.Chosen {
		h, ok := pl.holders[c]
		if !ok || h.gone {
			return false
		}
	}
	if len(pl.placement.Chosen) < pl.placement.Wanted {
		// Fewer candidates than wanted: keep every replica.
		return false
	}
	rank := func(id string) int {
		if k := pl.placement.Rank(id); k >= 0 {
			return k
		}
		return len(pl.placement.Ranking) // not even eligible: lowest
	}
	lowest, lr := "", -1
	for id, h := range pl.holders {
		if !h.replica || h.gone || slices.Contains(pl.placement.Chosen, id) {
			continue
		}
		if k := rank(id); k > lr || (k == lr && id > lowest) {
			lowest, lr = id, k
		}
	}
	return lowest == self
}

// fetch pulls an intent's revision onto this node.
func (r *Service) fetch(ctx context.Context, i Intent, kind, why string) {
	defer func() {
		r.mu.Lock()
		delete(r.inflight, i.Key())
		r.mu.Unlock()
	}()
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-ctx.Done():
		return
	}
	start := time.Now()
	target := i.Revision
	if i.Commit != "" {
		target = i.Commit
	}
	st := r.deps.Store
	pctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	res, err := r.deps.Puller.Pull(pctx, i.Kind, i.Repo, target, r.cfg.Sources)
	if err == nil && target != i.Revision {
		// Pulled by commit: name it as the intent does.
		if err = st.Commit(ctx, res.Manifest, i.Revision, nil); err == nil && !res.Local {
			err = st.DeleteRef(ctx, i.Kind, i.Repo, target)
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Info("replication: fetch failed, will retry", "key", i.Key(), "err", err)
		}
		r.mu.Lock()
		r.retry[i.Key()] = time.Now().Add(max(r.cfg.Interval, minRetry))
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	r.replicas[i.Key()] = true
	delete(r.retry, i.Key())
	if err := r.saveLocked(); err != nil {
		r.log.Error("replication: save", "err", err)
	}
	r.mu.Unlock()
	took := time.Since(start)
	r.audit(sovereignty.Entry{Kind: kind, Subject: res.Manifest.Commit, Repo: i.Repo + "@" + i.Revision,
		Reason: fmt.Sprintf("%s; fetched %d bytes in %s", why, res.Bytes, took.Round(time.Millisecond))})
	r.log.Info("replicated", "kind", kind, "key", i.Key(), "commit", res.Manifest.Commit, "took", took, "why", why)
	r.advertiseSoon()
}

// release drops this node's replica of an intent.
func (r *Service) release(ctx context.Context, i Intent, why string) {
	if err := r.deps.Store.DeleteRef(ctx, i.Kind, i.Repo, i.Revision); err != nil && !errors.Is(err, store.ErrRepoNotFound) && !errors.Is(err, store.ErrRevisionNotFound) {
		r.log.Warn("replication: release", "key", i.Key(), "err", err)
		return
	}
	r.mu.Lock()
	delete(r.replicas, i.Key())
	if err := r.saveLocked(); err != nil {
		r.log.Error("replication: save", "err", err)
	}
	r.mu.Unlock()
	r.audit(sovereignty.Entry{Kind: sovereignty.KindRelease, Subject: i.Commit, Repo: i.Repo + "@" + i.Revision, Reason: why})
	r.log.Info("released", "key", i.Key(), "why", why)
	r.advertiseSoon()
}

// audit records an entry; every replication and release is kept.
func (r *Service) audit(e sovereignty.Entry) {
	if err := r.deps.Audit.Append(e); err != nil {
		r.log.Error("audit", "err", err)
	}
}
