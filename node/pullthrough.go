package node

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/hfapi"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/mirror"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// RoleMirror is the certificate role of nodes that mirror from the
// upstream Hub, also on a miss of the Hugging Face API.
const RoleMirror = "mirror"

// pullThrough is the store the Hugging Face API reads: the node's, and
// on a miss a pull of the revision from the members (or, on a mirror,
// from the upstream Hub), shared by every request for that revision.
// Get waits for a block a pull in flight has not brought yet, so a file
// (or a range of it) is answered as soon as its blocks are in.
type pullThrough struct {
	d   *Daemon
	st  hfapi.Store
	ctx context.Context // pulls outlive the request that started them

	mu      sync.Mutex
	pulls   map[string]*sharedPull
	arrived chan struct{} // closed and replaced when a block arrives or a pull ends
	// recent keeps the blocks that arrived last (up to recentBytes, oldest
	// dropped first) while pulls run: a client reading a file as it
	// arrives gets them from memory, not read back from the disk.
	recent      map[cid.Cid]blocks.Block
	recentOrder []cid.Cid
	recentN     int
}

// recentBytes bounds pullThrough.recent.
const recentBytes = 128 << 20

// sharedPull is one pull of a revision in flight.
type sharedPull struct {
	known chan struct{} // closed once m is set or the pull ended
	done  chan struct{}
	m     *manifest.Manifest
	err   error
}

func newPullThrough(ctx context.Context, d *Daemon, st hfapi.Store) *pullThrough {
	return &pullThrough{d: d, st: st, ctx: ctx, pulls: map[string]*sharedPull{}, arrived: make(chan struct{}), recent: map[cid.Cid]blocks.Block{}}
}

// notFound says err means the store lacks a revision.
func notFound(err error) bool {
	return errors.Is(err, store.ErrRepoNotFound) || errors.Is(err, store.ErrRevisionNotFound)
}

// Resolve answers from the store, else starts (or joins) the revision's
// pull and answers once its manifest is known. A revision nobody can
// send stays not found.
func (p *pullThrough) Resolve(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error) {
	m, err := p.st.Resolve(ctx, kind, repo, rev)
	if err == nil || !notFound(err) {
		return m, err
	}
	sp := p.start(kind, repo, rev)
	select {
	case <-sp.known:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if sp.m != nil {
		return sp.m, nil
	}
	// Nobody could send it, or this node may not hold it (the pull logged
	// why): the store's "not found".
	return nil, err
}

// Refs are the store's.
func (p *pullThrough) Refs(ctx context.Context, kind manifest.Kind, repo string) ([]store.Ref, error) {
	return p.st.Refs(ctx, kind, repo)
}

// Get returns c from the store, waiting for it while a pull runs.
func (p *pullThrough) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	for {
		p.mu.Lock()
		arrived, running, b := p.arrived, len(p.pulls) > 0, p.recent[c]
		p.mu.Unlock()
		if b != nil {
			return b, nil
		}
		b, err := p.st.Get(ctx, c)
		if err == nil || !errors.Is(err, store.ErrNotFound) || !running {
			return b, err
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// wake tells waiting Gets to look again.
func (p *pullThrough) wake() {
	p.mu.Lock()
	close(p.arrived)
	p.arrived = make(chan struct{})
	if len(p.pulls) == 0 {
		clear(p.recent)
		p.recentOrder, p.recentN = nil, 0
	}
	p.mu.Unlock()
}

// arrive keeps a copy of a block that arrived and wakes waiting Gets.
func (p *pullThrough) arrive(c cid.Cid, data []byte) {
	b, err := blocks.NewBlockWithCid(bytes.Clone(data), c)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.recent[c] == nil {
		p.recent[c] = b
		p.recentOrder = append(p.recentOrder, c)
		p.recentN += len(data)
	}
	for p.recentN > recentBytes && len(p.recentOrder) > 0 {
		old := p.recentOrder[0]
		p.recentOrder = p.recentOrder[1:]
		p.recentN -= len(p.recent[old].RawData())
		delete(p.recent, old)
	}
	p.mu.Unlock()
	p.wake()
}

// start returns the pull of kind repo@rev in flight, starting it first
// if none runs.
func (p *pullThrough) start(kind manifest.Kind, repo, rev string) *sharedPull {
	key := fetchKey(kind, repo, rev)
	p.mu.Lock()
	defer p.mu.Unlock()
	if sp := p.pulls[key]; sp != nil {
		return sp
	}
	sp := &sharedPull{known: make(chan struct{}), done: make(chan struct{})}
	p.pulls[key] = sp
	go p.run(key, sp, kind, repo, rev)
	return sp
}

func fetchKey(kind manifest.Kind, repo, rev string) string {
	return string(kind) + " " + repo + "@" + rev
}

func (p *pullThrough) run(key string, sp *sharedPull, kind manifest.Kind, repo, rev string) {
	var once sync.Once
	known := func() { once.Do(func() { close(sp.known) }) }
	defer func() {
		known()
		p.mu.Lock()
		delete(p.pulls, key)
		p.mu.Unlock()
		close(sp.done)
		p.wake()
	}()
	if p.d.Host == nil {
		sp.err = ErrNoSource
		return
	}
	_, err := p.d.Pull(p.ctx, kind, repo, rev, PullOptions{
		OnManifest: func(m *manifest.Manifest) {
			sp.m = m
			known()
		},
		OnBlock: p.arrive,
	})
	if err != nil && sp.m == nil && errors.Is(err, ErrNoSource) && p.mayMirror(repo) {
		err = p.mirror(kind, repo, rev)
		if err == nil {
			sp.m, err = p.st.Resolve(p.ctx, kind, repo, rev)
		}
	}
	if err != nil {
		p.d.log.Info("pull-through", "repo", repo, "rev", rev, "err", err)
	}
	sp.err = err
}

// mayMirror says the node mirrors from the upstream Hub on a miss: it has
// the mirror role, the upstream is not offline, and the policy lets it
// hold repo.
func (p *pullThrough) mayMirror(repo string) bool {
	self := p.d.Self()
	if p.d.n.Config.Upstream.Offline || !self.HasRole(RoleMirror) {
		return false
	}
	dec := p.d.Engine.Decide(sovereignty.Hold, repo, self)
	if !dec.Allow {
		p.d.audit(sovereignty.DenyEntry(sovereignty.Hold, repo, self, dec))
	}
	return dec.Allow
}

// mirror fetches repo@rev from the upstream Hub into the store.
func (p *pullThrough) mirror(kind manifest.Kind, repo, rev string) error {
	up := p.d.n.Config.WithDefaults().Upstream
	_, err := mirror.Mirror(p.ctx, p.d.n.Store, repo, mirror.Options{
		Endpoint: up.Endpoint, Token: up.Token, RedirectHosts: up.RedirectHosts,
		Kind: kind, Revision: rev, SpoolDir: filepath.Join(p.d.n.Home, "tmp", "mirror"),
	})
	return err
}
