package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
	// members holding the revision, nearest first. Default 0: all of
	// them, and every other connected member that may hold the repo
	// (it may start fetching the revision too).
	MaxSources int
	// Out, when set, is the folder the files are written into while they
	// arrive (each verified against its sha256 before it is renamed into
	// place; .part files of a failed pull are removed). Default: the
	// files are only verified.
	Out string
	// OnManifest, if set, is called with the revision's manifest before
	// its blocks are fetched (not when the store held it).
	OnManifest func(*manifest.Manifest)
	// OnBlock, if set, is called with every block once it is verified
	// and stored.
	OnBlock func(c cid.Cid, data []byte)
	// Paths, with Out, names the files written (as ingest.Select takes
	// them); empty: all. Every file is verified either way.
	Paths []string
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
		if err := CheckQuarantine(ctx, d.n.Store, m); err != nil {
			return nil, err // never replicated
		}
		if err := d.checkModelSig(ctx, m, "serve manifest"); err != nil {
			return nil, err
		}
		return m, nil
	})
	h, err := catalog.NewHandler(catalog.HandlerConfig{
		Resolver: res,
		Partials: d.swarm.fetching,
		Gate: func(p peer.ID, repo string) error {
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
		},
		NotFound: func(err error) bool {
			return errors.Is(err, store.ErrRepoNotFound) || errors.Is(err, store.ErrRevisionNotFound) || errors.Is(err, store.ErrNotFound)
		},
	})
	if err != nil {
		panic(err) // every field is set above
	}
	d.Host.Handle(catalog.ProtocolID, h)
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
	if err := d.pullGate().MayImport(repo); err != nil {
		return nil, fmt.Errorf("pull %s: this node may not hold it: %w", repo, err)
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
	// Served to others while it arrives, from the first block on.
	d.swarm.begin(m, rev)
	defer d.swarm.end(m)
	if o.OnManifest != nil {
		o.OnManifest(m)
	}
	if o.MaxSources > 0 && len(sources) > o.MaxSources {
		sources = sources[:o.MaxSources]
	} else {
		sources = d.candidates(repo, sources)
	}
	unprotect := d.protectSources(sources)
	t0 := time.Now()
	stats, err := d.fetchChecked(ctx, m, sources, o)
	checked := time.Since(t0)
	unprotect()
	d.Metrics().ObserveFetch(stats)
	if err != nil {
		return nil, fmt.Errorf("pull %s@%s: %w", repo, rev, err)
	}
	all, err := chunker.CIDs(ctx, st, m.Root)
	if err != nil {
		return nil, fmt.Errorf("pull %s@%s: %w", repo, rev, err)
	}
	if err := d.checkModelSig(ctx, m, "pull"); err != nil {
		return nil, err
	}
	if err := d.gatePulled(ctx, m, sources); err != nil {
		return nil, err
	}
	if err := st.Commit(ctx, m, rev, all); err != nil {
		return nil, fmt.Errorf("pull %s@%s: %w", repo, rev, err)
	}
	d.announce(kind, repo, rev)
	// seconds: the fetch; checked: until every file's sha256 matched
	// (and was written out); committed: until the ref was set.
	d.log.Info("pulled", "repo", repo, "rev", rev, "commit", m.Commit, "bytes", stats.Bytes, "seconds", stats.Duration.Seconds(),
		"checked", checked.Seconds(), "committed", time.Since(t0).Seconds(), "peers", len(sources))
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

// fetchChecked fetches m's DAG from sources while assemblers check every
// file's sha256 as its blocks arrive (and write the files asked for into
// o.Out): no file is read back from the store to be verified.
func (d *Daemon) fetchChecked(ctx context.Context, m *manifest.Manifest, sources []peer.ID, o PullOptions) (fetch.Stats, error) {
	write, check, err := splitFiles(m, o)
	if err != nil {
		return fetch.Stats{}, err
	}
	var asms []*ingest.Assembler
	if len(write) > 0 {
		asms = append(asms, ingest.NewAssembler(d.n.Store, write, ingest.AssembleOptions{Out: o.Out, Window: assembleWindow}))
	}
	if len(check) > 0 {
		asms = append(asms, ingest.NewAssembler(d.n.Store, check, ingest.AssembleOptions{}))
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(asms))
	var wg sync.WaitGroup
	for i, a := range asms {
		wg.Go(func() {
			if errs[i] = a.Run(fctx); errs[i] != nil {
				cancel() // a file that does not match ends the fetch
			}
		})
	}
	stats, err := d.Client.Fetch(fctx, m.Root, sources, fetch.Options{
		Progress: o.Progress, RTT: d.Host.RTT,
		OnBlock: func(c cid.Cid, data []byte) {
			for _, a := range asms {
				a.Block(c, data)
			}
			if o.OnBlock != nil {
				o.OnBlock(c, data)
			}
		},
	})
	for _, a := range asms {
		a.FetchDone(err)
	}
	wg.Wait()
	if aerr := errors.Join(errs...); aerr != nil && (err == nil || fctx.Err() != nil && ctx.Err() == nil) {
		return stats, fmt.Errorf("verification failed: %w", aerr)
	}
	return stats, err
}

// splitFiles parts m's files into those written into o.Out and those
// only checked.
func splitFiles(m *manifest.Manifest, o PullOptions) (write, check []manifest.File, err error) {
	if o.Out == "" {
		return nil, m.Files, nil
	}
	write, err = ingest.Select(m, o.Paths)
	if err != nil {
		return nil, nil, err
	}
	written := make(map[string]bool, len(write))
	for _, f := range write {
		written[f.Path] = true
	}
	for _, f := range m.Files {
		if !written[f.Path] {
			check = append(check, f)
		}
	}
	return write, check, nil
}

// assembleWindow is how far (in bytes) blocks may arrive ahead of the
// file being written and still be kept in memory rather than read back
// from the store: a fetch from a near peer runs ahead of hashing and
// writing.
const assembleWindow = 256 << 20
