package hfapi

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// Puller brings a revision into the store behind a PullThrough.
type Puller interface {
	// Pull makes kind repo@rev present, calling onManifest once its
	// manifest is known and onBlock with each block as it arrives.
	Pull(ctx context.Context, kind manifest.Kind, repo, rev string, onManifest func(*manifest.Manifest), onBlock func(cid.Cid, []byte)) error
}

// PullThrough is a Store that, on a miss, pulls the revision (Puller),
// one pull shared by every request for that revision.
// Get waits for a block a pull in flight has not brought yet, so a file
// (or a range of it) is answered as soon as its blocks are in.
type PullThrough struct {
	st     Store
	puller Puller
	log    *slog.Logger
	ctx    context.Context // pulls outlive the request that started them

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

// recentBytes bounds PullThrough.recent.
const recentBytes = 128 << 20

// sharedPull is one pull of a revision in flight.
type sharedPull struct {
	known chan struct{} // closed once m is set or the pull ended
	done  chan struct{}
	m     *manifest.Manifest
	err   error
}

// NewPullThrough returns st pulling through puller on a miss. The pulls
// run under ctx, not the request that started them; log (nil:
// slog.Default()) gets a line for each pull that fails.
func NewPullThrough(ctx context.Context, st Store, puller Puller, log *slog.Logger) *PullThrough {
	if log == nil {
		log = slog.Default()
	}
	return &PullThrough{st: st, puller: puller, log: log, ctx: ctx, pulls: map[string]*sharedPull{}, arrived: make(chan struct{}), recent: map[cid.Cid]blocks.Block{}}
}

// notFound says err means the store lacks a revision.
func notFound(err error) bool {
	return errors.Is(err, store.ErrRepoNotFound) || errors.Is(err, store.ErrRevisionNotFound)
}

// Resolve answers from the store, else starts (or joins) the revision's
// pull and answers once its manifest is known. A revision nobody can
// send stays not found.
func (p *PullThrough) Resolve(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error) {
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
func (p *PullThrough) Refs(ctx context.Context, kind manifest.Kind, repo string) ([]store.Ref, error) {
	return p.st.Refs(ctx, kind, repo)
}

// Get returns c from the store, waiting for it while a pull runs.
func (p *PullThrough) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
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
func (p *PullThrough) wake() {
	p.mu.Lock()
	close(p.arrived)
	p.arrived = make(chan struct{})
	if len(p.pulls) == 0 {
		clear(p.recent)
		p.recentOrder, p.recentN = nil, 0
	}
	p.mu.Unlock()
}

// arrive keeps a block that arrived (the fetch never modifies its buffer
// afterwards: fetch.Options.OnBlock) and wakes waiting Gets.
func (p *PullThrough) arrive(c cid.Cid, data []byte) {
	b, err := blocks.NewBlockWithCid(data, c)
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
func (p *PullThrough) start(kind manifest.Kind, repo, rev string) *sharedPull {
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

func (p *PullThrough) run(key string, sp *sharedPull, kind manifest.Kind, repo, rev string) {
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
	err := p.puller.Pull(p.ctx, kind, repo, rev, func(m *manifest.Manifest) {
		sp.m = m
		known()
	}, p.arrive)
	if err != nil {
		p.log.Info("pull-through", "repo", repo, "rev", rev, "err", err)
	}
	sp.err = err
}
