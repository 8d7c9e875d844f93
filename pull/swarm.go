package pull

import (
	"slices"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/catalog"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/sovereignty"
)

// Swarm is what a node knows of the revisions it is fetching, so it
// serves them while they arrive: the have-sets its fetch client records
// and its fetch server answers from, the manifests its catalog answers
// partial queries with, and the repo of each root for the residency
// policy (the store names no repo for a root until the pull commits).
type Swarm struct {
	haves    *fetch.Haves
	fetching *catalog.Fetching

	mu    sync.Mutex
	repos map[cid.Cid]string // root being fetched → its repo
	users map[cid.Cid]int    // pulls of the root running
}

// NewSwarm returns an empty swarm.
func NewSwarm() *Swarm {
	return &Swarm{haves: fetch.NewHaves(), fetching: catalog.NewFetching(), repos: map[cid.Cid]string{}, users: map[cid.Cid]int{}}
}

// Haves are the have-sets shared by the fetch client and server.
func (s *Swarm) Haves() *fetch.Haves { return s.haves }

// Fetching are the manifests the catalog answers partial queries with.
func (s *Swarm) Fetching() *catalog.Fetching { return s.fetching }

// begin records that the node fetches m (asked for as rev); end undoes
// it once no pull of it runs. A root that failed stays tracked in haves
// until the last pull of it ends, then is forgotten.
func (s *Swarm) begin(m *manifest.Manifest, rev string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[m.Root] = m.Repo
	s.users[m.Root]++
	s.fetching.Add(m, rev)
}

func (s *Swarm) end(m *manifest.Manifest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[m.Root]--; s.users[m.Root] > 0 {
		return
	}
	delete(s.users, m.Root)
	delete(s.repos, m.Root)
	s.fetching.Remove(m)
	s.haves.Forget(m.Root)
}

// RepoOf names the repo of a root being fetched.
func (s *Swarm) RepoOf(root cid.Cid) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[root]
	return r, ok
}

// candidates adds to the members that answered for a revision the other
// connected members that may hold repo: one that starts fetching the
// same revision a moment later becomes a source (the fetch client
// probes it again while it says it lacks the root).
func (s *Service) candidates(repo string, answered []peer.ID) []peer.ID {
	out := slices.Clone(answered)
	for _, p := range s.d.Host.Peers() { // nearest first
		if slices.Contains(out, p.ID) {
			continue
		}
		m, ok := s.d.Host.Member(p.ID)
		if !ok || !s.d.Policy.Decide(sovereignty.Hold, repo, m).Allow {
			continue
		}
		out = append(out, p.ID)
	}
	return out
}
