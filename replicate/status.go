package replicate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
)

// ReplicaHolder is one node holding a revision, in Status.
type ReplicaHolder struct {
	Peer         string `json:"peer"`
	Jurisdiction string `json:"jurisdiction"`
	Region       string `json:"region"`
	Commit       string `json:"commit"`
	Replica      bool   `json:"replica"`        // fetched by the replicator
	Gone         bool   `json:"gone,omitempty"` // disconnected, within the grace period
	Chosen       bool   `json:"chosen"`         // in the placement target
	Allowed      bool   `json:"allowed"`        // the policy lets it hold the repo
	Self         bool   `json:"self,omitempty"` // this node
}

// ReplicaStatus is where a revision's replicas are and whether the policy
// is met, as this node sees the cluster.
type ReplicaStatus struct {
	Kind     manifest.Kind   `json:"kind"`
	Repo     string          `json:"repo"`
	Revision string          `json:"revision"`
	Intent   *Intent         `json:"intent,omitempty"` // nil: not pinned
	Wanted   int             `json:"wanted"`
	Quotas   map[string]int  `json:"quotas,omitempty"`
	Target   []string        `json:"target"`  // chosen nodes, placement order
	Holders  []ReplicaHolder `json:"holders"` // nearest role first
	Lost     []string        `json:"lost,omitempty"`
	Eligible int             `json:"eligible"` // candidates the policy allows
	Met      bool            `json:"met"`
	Problems []string        `json:"problems,omitempty"`
}

// Status reports kind repo@rev. A revision nobody pinned is shown against
// the factor a pin would get.
func (r *Service) Status(ctx context.Context, kind manifest.Kind, repo, rev string) (ReplicaStatus, error) {
	local, err := r.deps.Store.Refs(ctx, "", "")
	if err != nil {
		return ReplicaStatus{}, err
	}
	key := Key(kind, repo, rev)
	selfID := r.h.ID().String()
	r.mu.Lock()
	s := r.snapshotLocked(time.Now(), local)
	i, pinned := r.intents[key]
	if !pinned {
		i = Intent{Kind: kind, Repo: repo, Revision: rev, Version: 1}
	}
	// Placement over all intents (bounded loads depend on them), then
	// this key's plan.
	all := r.intentsLocked()
	if !pinned {
		all = append(all, i)
	}
	var pl plan
	for _, p := range r.plansLocked(s, all) {
		if p.key == key {
			pl = p
		}
	}
	r.mu.Unlock()
	st := ReplicaStatus{Kind: kind, Repo: repo, Revision: rev, Wanted: pl.placement.Wanted, Quotas: pl.target.In, Target: pl.placement.Chosen, Lost: pl.lost, Holders: []ReplicaHolder{}}
	if st.Target == nil {
		st.Target = []string{}
	}
	if pinned {
		st.Intent = &i
	}
	for _, ok := range pl.eligible {
		if ok {
			st.Eligible++
		}
	}
	live := map[string]int{}
	good := 0
	for id, h := range s.held[key] {
		m := s.members[id]
		rh := ReplicaHolder{Peer: id, Commit: h.commit, Replica: h.replica, Gone: h.gone, Chosen: slices.Contains(pl.placement.Chosen, id), Self: id == selfID}
		if m != nil {
			rh.Jurisdiction, rh.Region = m.Jurisdiction, m.Region
			rh.Allowed = r.deps.Policy.Decide(sovereignty.Hold, repo, m).Allow
		}
		st.Holders = append(st.Holders, rh)
		if i.Commit != "" && h.commit != i.Commit {
			st.Problems = append(st.Problems, fmt.Sprintf("%s holds commit %s, not the pinned %s", id, h.commit, i.Commit))
			continue
		}
		if !rh.Allowed {
			st.Problems = append(st.Problems, fmt.Sprintf("%s (%s) holds it but the policy does not allow it there", id, rh.Jurisdiction))
			continue
		}
		if !h.gone {
			good++
			live[rh.Jurisdiction]++
		}
	}
	sort.Slice(st.Holders, func(a, b int) bool { return st.Holders[a].Peer < st.Holders[b].Peer })
	if good < st.Wanted {
		st.Problems = append(st.Problems, fmt.Sprintf("%d of %d replicas held by live allowed nodes", good, st.Wanted))
	}
	qkeys := make([]string, 0, len(pl.target.In))
	for k := range pl.target.In {
		qkeys = append(qkeys, k)
	}
	sort.Strings(qkeys)
	for _, k := range qkeys {
		n := 0
		for j, c := range live {
			if r.deps.Policy.Covers(k, j) {
				n += c
			}
		}
		if n < pl.target.In[k] {
			st.Problems = append(st.Problems, fmt.Sprintf("%d of %d replicas in %s", n, pl.target.In[k], k))
		}
	}
	if st.Eligible < st.Wanted {
		st.Problems = append(st.Problems, fmt.Sprintf("only %d eligible mirror nodes for %d replicas", st.Eligible, st.Wanted))
	}
	st.Met = len(st.Problems) == 0
	return st, nil
}
