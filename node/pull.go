package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/catalog"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// ErrNoSource means no connected member could provide a revision.
var ErrNoSource = errors.New("no connected peer holds that revision")

// PullOptions tune Pull.
type PullOptions struct {
	// Progress receives fetch progress.
	Progress func(fetch.Progress)
	// QueryTimeout bounds asking peers for the manifest. Default 10s.
	QueryTimeout time.Duration
	// MaxSources, when positive, fetches from at most that many of the
	// members holding the revision, nearest first. Default 0: all.
	MaxSources int
}

// PullResult reports a pull.
type PullResult struct {
	Manifest *manifest.Manifest
	// Local is true when the store held the revision already.
	Local bool
	Stats fetch.Stats
}

// resolveFunc adapts a function to catalog.Resolver.
type resolveFunc func(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error)

func (f resolveFunc) Resolve(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error) {
	return f(ctx, kind, repo, rev)
}

// registerCatalog answers manifest queries of members the policy allows,
// with manifests whose provenance checks (see provenance.go).
func (d *Daemon) registerCatalog() {
	res := resolveFunc(func(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error) {
		m, err := d.n.Store.Resolve(ctx, kind, repo, rev)
		if err != nil {
			return nil, err
		}
		if err := d.checkProvenance(m, "", "serve manifest"); err != nil {
			return nil, err
		}
		return m, nil
	})
	d.Host.Handle(catalog.ProtocolID, catalog.Handler(res, func(p peer.ID, repo string) error {
		m, ok := d.Host.Member(p)
		if !ok {
			return errors.New("not a verified member")
		}
		dec := d.Engine.Decide(sovereignty.Receive, repo, m)
		if !dec.Allow {
			d.audit(sovereignty.DenyEntry(sovereignty.Receive, repo, m, dec))
			return fmt.Errorf("policy: %s", dec.Reason)
		}
		return nil
	}, func(err error) bool {
		return errors.Is(err, store.ErrRepoNotFound) || errors.Is(err, store.ErrRevisionNotFound) || errors.Is(err, store.ErrNotFound)
	}))
}

func (d *Daemon) audit(e sovereignty.Entry) {
	if err := d.denials.Append(e); err != nil {
		d.log.Error("audit", "err", err)
	}
}

// Self is this node's membership, from its own certificate; nil when it
// has none.
func (d *Daemon) Self() *sovereignty.Member {
	return d.self
}

// Pull makes a revision present in the local store: from the store if it
// is there, else from the nearest members that hold it. Every block is
// verified as it arrives, every file's sha256 before the ref is set.
func (d *Daemon) Pull(ctx context.Context, kind manifest.Kind, repo, rev string, o PullOptions) (*PullResult, error) {
	st := d.n.Store
	if m, err := st.Resolve(ctx, kind, repo, rev); err == nil {
		return &PullResult{Manifest: m, Local: true}, nil
	} else if !errors.Is(err, store.ErrRepoNotFound) && !errors.Is(err, store.ErrRevisionNotFound) {
		return nil, err
	}
	if d.Host == nil {
		return nil, fmt.Errorf("pull %s@%s: not in the store, and peer-to-peer is off (no certificate)", repo, rev)
	}
	if self := d.Self(); self != nil {
		if dec := d.Engine.Decide(sovereignty.Hold, repo, self); !dec.Allow {
			d.audit(sovereignty.DenyEntry(sovereignty.Hold, repo, self, dec))
			return nil, fmt.Errorf("pull %s: this node may not hold it: %s", repo, dec.Reason)
		}
	}
	m, sources, err := d.findManifest(ctx, catalog.Query{Kind: kind, Repo: repo, Revision: rev}, o.QueryTimeout)
	if err != nil {
		return nil, err
	}
	release, err := st.Hold(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if o.MaxSources > 0 && len(sources) > o.MaxSources {
		sources = sources[:o.MaxSources]
	}
	unprotect := d.protectSources(sources)
	stats, err := d.Client.Fetch(ctx, m.Root, sources, fetch.Options{Progress: o.Progress, RTT: d.Host.RTT})
	unprotect()
	d.Metrics().ObserveFetch(stats)
	if err != nil {
		return nil, fmt.Errorf("pull %s@%s: %w", repo, rev, err)
	}
	if probs, err := ingest.Verify(ctx, st, m); err != nil || len(probs) > 0 {
		return nil, fmt.Errorf("pull %s@%s: verification failed: %v %v", repo, rev, probs, err)
	}
	var all []cid.Cid
	if err := chunker.Walk(ctx, st, m.Root, func(c cid.Cid, _ blocks.Block) error {
		all = append(all, c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pull %s@%s: %w", repo, rev, err)
	}
	if err := st.Commit(ctx, m, rev, all); err != nil {
		return nil, fmt.Errorf("pull %s@%s: %w", repo, rev, err)
	}
	d.announce(kind, repo, rev)
	d.log.Info("pulled", "repo", repo, "rev", rev, "commit", m.Commit, "bytes", stats.Bytes, "seconds", stats.Duration.Seconds(), "peers", len(sources))
	return &PullResult{Manifest: m, Stats: stats}, nil
}

// findManifest asks every connected member at once; the nearest answer
// wins, and the members that answered with the same commit are the
// sources, nearest first.
func (d *Daemon) findManifest(ctx context.Context, q catalog.Query, timeout time.Duration) (*manifest.Manifest, []peer.ID, error) {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	peers := d.pullPeers(ctx, q.Kind, q.Repo, q.Revision) // nearest first
	if len(peers) == 0 {
		return nil, nil, fmt.Errorf("pull %s@%s: %w (no members connected)", q.Repo, q.Revision, ErrNoSource)
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	answers := make([]*manifest.Manifest, len(peers))
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = catalog.Ask(qctx, d.Host.Libp2p(), p.ID, q)
		}()
	}
	wg.Wait()
	var m *manifest.Manifest
	var sources []peer.ID
	for i, a := range answers {
		if a == nil {
			continue
		}
		// A manifest whose signatures do not satisfy the trust
		// configuration is never committed; another peer may still
		// have a good one.
		if err := d.checkProvenance(a, peers[i].ID.String(), "pull manifest"); err != nil {
			answers[i], errs[i] = nil, err
			continue
		}
		if m == nil {
			m = a
		}
		if a.Commit == m.Commit {
			sources = append(sources, peers[i].ID)
		}
	}
	if m == nil {
		for i, err := range errs {
			slog.Debug("catalog", "peer", peers[i].ID, "err", err)
		}
		return nil, nil, fmt.Errorf("pull %s@%s: %w: %v", q.Repo, q.Revision, ErrNoSource, errors.Join(errs...))
	}
	return m, sources, nil
}

// WaitForPeers waits until at least n members are connected or ctx ends.
func (d *Daemon) WaitForPeers(ctx context.Context, n int) error {
	if d.Host == nil {
		return errors.New("peer-to-peer is off")
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for len(d.Host.Peers()) < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d peers: %w", n, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
