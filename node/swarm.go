package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/catalog"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/sovereignty"
)

// swarm is what the daemon knows of the revisions it is fetching, so it
// serves them while they arrive: the have-sets its fetch client records
// and its fetch server answers from, the manifests its catalog answers
// partial queries with, and the repo of each root for the residency
// policy (the store names no repo for a root until the pull commits).
type swarm struct {
	haves    *fetch.Haves
	fetching *catalog.Fetching

	mu    sync.Mutex
	repos map[cid.Cid]string // root being fetched → its repo
	users map[cid.Cid]int    // pulls of the root running
}

func newSwarm() *swarm {
	return &swarm{haves: fetch.NewHaves(), fetching: catalog.NewFetching(), repos: map[cid.Cid]string{}, users: map[cid.Cid]int{}}
}

// begin records that the node fetches m (asked for as rev); end undoes
// it once no pull of it runs. A root that failed stays tracked in haves
// until the last pull of it ends, then is forgotten.
func (s *swarm) begin(m *manifest.Manifest, rev string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[m.Root] = m.Repo
	s.users[m.Root]++
	s.fetching.Add(m, rev)
}

func (s *swarm) end(m *manifest.Manifest) {
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

// repoOf names the repo of a root being fetched.
func (s *swarm) repoOf(root cid.Cid) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[root]
	return r, ok
}

// rates are the upload and download limits, the options' over the
// config's.
func (d *Daemon) rates(o DaemonOptions) (up, down int64, err error) {
	cfg := d.n.Config.P2P
	if o.MaxUploadRate != "" {
		cfg.MaxUploadRate = o.MaxUploadRate
	}
	if o.MaxDownloadRate != "" {
		cfg.MaxDownloadRate = o.MaxDownloadRate
	}
	return cfg.Rates()
}

// startFetch builds the fetch server and client around one Haves, with
// the node's rate limits.
func (d *Daemon) startFetch(h *p2p.Host, o DaemonOptions) error {
	up, down, err := d.rates(o)
	if err != nil {
		return err
	}
	d.swarm = newSwarm()
	d.Fetch, err = fetch.NewServer(h.Libp2p(), d.n.Store, func(p peer.ID, root cid.Cid) error {
		m, ok := h.Member(p)
		if !ok {
			return errors.New("not a verified member")
		}
		return d.gateFetch(m, root)
	}, fetch.ServerConfig{Logger: d.log, Haves: d.swarm.haves, UploadRate: up})
	if err != nil {
		return err
	}
	d.Fetch.Register()
	d.Client, err = fetch.NewClientConfig(h.Libp2p(), d.n.Store, fetch.ClientConfig{Haves: d.swarm.haves, DownloadRate: down, Logger: d.log})
	return err
}

// gateFetch decides a fetch request for root from m: by the repo being
// fetched when the node is fetching root itself, else by the repos the
// store holds it in. A root in neither is answered as not found (no
// audit entry: there is nothing to refuse), so a peer probes again and
// finds the node once it starts fetching the root too.
func (d *Daemon) gateFetch(m *sovereignty.Member, root cid.Cid) error {
	if repo, ok := d.swarm.repoOf(root); ok {
		dec := d.Engine.Decide(sovereignty.Receive, repo, m)
		if dec.Allow {
			return nil
		}
		d.audit(sovereignty.DenyEntry(sovereignty.Receive, repo, m, dec))
		d.Metrics().RefusedBlock("fetch")
		return fmt.Errorf("policy refuses %s for jurisdiction %s", root, m.Jurisdiction)
	}
	if repos, err := d.n.Store.ReposOf(context.Background(), root); err == nil && len(repos) == 0 {
		return fmt.Errorf("not found: root %s", root)
	}
	if !d.allowBlocks(context.Background(), m, root, "fetch") {
		return fmt.Errorf("policy refuses %s for jurisdiction %s", root, m.Jurisdiction)
	}
	return nil
}

// candidates adds to the members that answered for a revision the other
// connected members that may hold repo: one that starts fetching the
// same revision a moment later becomes a source (the fetch client
// probes it again while it says it lacks the root).
func (d *Daemon) candidates(repo string, answered []peer.ID) []peer.ID {
	out := slices.Clone(answered)
	for _, p := range d.Host.Peers() { // nearest first
		if slices.Contains(out, p.ID) {
			continue
		}
		m, ok := d.Host.Member(p.ID)
		if !ok || !d.Engine.Decide(sovereignty.Hold, repo, m).Allow {
			continue
		}
		out = append(out, p.ID)
	}
	return out
}

// Rates are the node's upload and download limits in bytes per second
// (0: unlimited); zeros when peer-to-peer is off.
func (d *Daemon) Rates() (up, down int64) {
	if d.Fetch == nil || d.Client == nil {
		return 0, 0
	}
	return d.Fetch.UploadRate(), d.Client.DownloadRate()
}

// registerSwarmMetrics adds the swarm's figures to /metrics.
func (d *Daemon) registerSwarmMetrics() error {
	if d.metrics == nil {
		return nil
	}
	return d.metrics.RegisterSwarm(d.Fetch, d.Client)
}
