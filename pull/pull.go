package pull

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/catalog"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/p2p/gossip"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// ErrNoSource means no connected member could provide a revision.
var ErrNoSource = errors.New("no connected peer holds that revision")

// Options tune Pull.
type Options struct {
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
	// and stored; data may be kept, never modified (fetch.Options.OnBlock).
	OnBlock func(c cid.Cid, data []byte)
	// Paths, with Out, names the files written (as ingest.Select takes
	// them); empty: all. Every file is verified either way.
	Paths []string
}

// Result reports a pull.
type Result struct {
	Manifest *manifest.Manifest
	// Local is true when the store held the revision already.
	Local bool
	Stats fetch.Stats
}

// Store is what a pull needs of the node's store (*store.Store).
type Store interface {
	ingest.Blocks
	Resolve(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error)
	// Hold keeps the garbage collector off fetched blocks until release.
	Hold(ctx context.Context) (release func(), err error)
	Commit(ctx context.Context, m *manifest.Manifest, rev string, blks []cid.Cid) error
}

// Host is what a pull needs of the node's host (*p2p.Host): the
// connected members, nearest first, and discovery.
type Host interface {
	Peers() []p2p.PeerInfo
	Member(p peer.ID) (*sovereignty.Member, bool)
	RTT(p peer.ID) time.Duration
	FindPeer(ctx context.Context, p peer.ID) (peer.AddrInfo, error)
	Connect(ctx context.Context, ai peer.AddrInfo) error
	FindProviders(ctx context.Context, c cid.Cid, n int) ([]peer.AddrInfo, error)
	Provide(ctx context.Context, c cid.Cid) error
	Libp2p() host.Host
}

// Holdings are the control plane's gossiped holdings (*gossip.Gossip).
type Holdings interface {
	Holders(key string) (full, partial []peer.ID)
	CaughtUp() bool
	Author(p peer.ID) (*sovereignty.Member, bool)
	Holdings() map[peer.ID]gossip.Holdings
}

// Policy is the residency policy (*sovereignty.Engine).
type Policy interface {
	Decide(a sovereignty.Action, repo string, m *sovereignty.Member) sovereignty.Decision
}

// Checks are the node's own checks of what a pull brings in.
type Checks interface {
	// MayImport refuses a repo this node may not hold, before any peer
	// is asked.
	MayImport(repo string) error
	// Manifest checks a manifest peer answered with (provenance); a
	// refused one is not a source.
	Manifest(m *manifest.Manifest, from peer.ID) error
	// Fetched checks a fetched revision before its commit (model
	// signature, the import gate, which may record it quarantined).
	Fetched(ctx context.Context, m *manifest.Manifest, sources []peer.ID) error
}

// Fetcher fetches a DAG from members (*fetch.Client).
type Fetcher interface {
	Fetch(ctx context.Context, root cid.Cid, peers []peer.ID, opts fetch.Options) (fetch.Stats, error)
}

// Deps are what a Service is built over.
type Deps struct {
	// Self is this node's peer ID, never dialled as a holder.
	Self  peer.ID
	Store Store
	// Host is nil when peer-to-peer is off: a pull then only finds what
	// the store holds.
	Host Host
	// Holdings may be nil: no gossiped holders, only the DHT's.
	Holdings Holdings
	Policy   Policy
	Checks   Checks
	Fetcher  Fetcher
	// Swarm is shared with the fetch server and the catalog handler.
	Swarm *Swarm
	// ObserveFetch, if set, gets every fetch's figures (the metrics).
	ObserveFetch func(fetch.Stats)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service pulls revisions from members.
type Service struct {
	d   Deps
	log *slog.Logger
}

// New returns a Service over d.
func New(d Deps) *Service {
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	if d.Swarm == nil {
		d.Swarm = NewSwarm()
	}
	return &Service{d: d, log: log}
}

// Pull makes a revision present in the local store: from the store if it
// is there, else from the nearest members that hold it. Every block is
// verified as it arrives, every file's sha256 before the ref is set.
func (s *Service) Pull(ctx context.Context, kind manifest.Kind, repo, rev string, o Options) (*Result, error) {
	st := s.d.Store
	if m, err := st.Resolve(ctx, kind, repo, rev); err == nil {
		return &Result{Manifest: m, Local: true}, nil
	} else if !errors.Is(err, store.ErrRepoNotFound) && !errors.Is(err, store.ErrRevisionNotFound) {
		return nil, err
	}
	if s.d.Host == nil {
		return nil, fmt.Errorf("pull %s@%s: not in the store, and peer-to-peer is off (no certificate)", repo, rev)
	}
	if err := s.d.Checks.MayImport(repo); err != nil {
		return nil, fmt.Errorf("pull %s: this node may not hold it: %w", repo, err)
	}
	m, sources, err := s.FindManifest(ctx, catalog.Query{Kind: kind, Repo: repo, Revision: rev}, o.QueryTimeout)
	if err != nil {
		return nil, err
	}
	release, err := st.Hold(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	// Served to others while it arrives, from the first block on.
	s.d.Swarm.begin(m, rev)
	defer s.d.Swarm.end(m)
	if o.OnManifest != nil {
		o.OnManifest(m)
	}
	if o.MaxSources > 0 && len(sources) > o.MaxSources {
		sources = sources[:o.MaxSources]
	} else {
		sources = s.candidates(repo, sources)
	}
	unprotect := s.protectSources(sources)
	t0 := time.Now()
	stats, err := s.fetchChecked(ctx, m, sources, o)
	checked := time.Since(t0)
	unprotect()
	if s.d.ObserveFetch != nil {
		s.d.ObserveFetch(stats)
	}
	if err != nil {
		return nil, fmt.Errorf("pull %s@%s: %w", repo, rev, err)
	}
	all, err := chunker.CIDs(ctx, st, m.Root)
	if err != nil {
		return nil, fmt.Errorf("pull %s@%s: %w", repo, rev, err)
	}
	if err := s.d.Checks.Fetched(ctx, m, sources); err != nil {
		return nil, err
	}
	if err := st.Commit(ctx, m, rev, all); err != nil {
		return nil, fmt.Errorf("pull %s@%s: %w", repo, rev, err)
	}
	s.announce(kind, repo, rev)
	// seconds: the fetch; checked: until every file's sha256 matched
	// (and was written out); committed: until the ref was set.
	s.log.Info("pulled", "repo", repo, "rev", rev, "commit", m.Commit, "bytes", stats.Bytes, "seconds", stats.Duration.Seconds(),
		"checked", checked.Seconds(), "committed", time.Since(t0).Seconds(), "peers", len(sources))
	return &Result{Manifest: m, Stats: stats}, nil
}

// FindManifest asks every connected member (and the holders discovered
// beyond them) at once; the nearest answer wins, and the members that
// answered with the same commit are the sources, nearest first. timeout
// bounds the query; 0: 10s.
func (s *Service) FindManifest(ctx context.Context, q catalog.Query, timeout time.Duration) (*manifest.Manifest, []peer.ID, error) {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	peers := s.pullPeers(ctx, q.Kind, q.Repo, q.Revision) // nearest first
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
			answers[i], errs[i] = catalog.Ask(qctx, s.d.Host.Libp2p(), p.ID, q)
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
		if err := s.d.Checks.Manifest(a, peers[i].ID); err != nil {
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
			s.log.Debug("catalog", "peer", peers[i].ID, "err", err)
		}
		return nil, nil, fmt.Errorf("pull %s@%s: %w: %v", q.Repo, q.Revision, ErrNoSource, errors.Join(errs...))
	}
	return m, sources, nil
}

// fetchChecked fetches m's DAG from sources while assemblers check every
// file's sha256 as its blocks arrive (and write the files asked for into
// o.Out): no file is read back from the store to be verified.
func (s *Service) fetchChecked(ctx context.Context, m *manifest.Manifest, sources []peer.ID, o Options) (fetch.Stats, error) {
	write, check, err := splitFiles(m, o)
	if err != nil {
		return fetch.Stats{}, err
	}
	var asms []*ingest.Assembler
	if len(write) > 0 {
		asms = append(asms, ingest.NewAssembler(s.d.Store, write, ingest.AssembleOptions{Out: o.Out, Window: assembleWindow}))
	}
	if len(check) > 0 {
		asms = append(asms, ingest.NewAssembler(s.d.Store, check, ingest.AssembleOptions{}))
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
	stats, err := s.d.Fetcher.Fetch(fctx, m.Root, sources, fetch.Options{
		Progress: o.Progress, RTT: s.d.Host.RTT,
		OnBlock: func(c cid.Cid, data []byte) {
			for _, a := range asms {
				a.Block(c, data)
			}
			if o.OnBlock != nil {
				o.OnBlock(c, data)
			}
		},
		// A leaf that is the next its file's sha256 needs is checked
		// against its CID in the same pass.
		Check: func(c cid.Cid, data []byte) (handled, ok bool) {
			for _, a := range asms {
				if handled, ok = a.Check(c, data); handled {
					return handled, ok
				}
			}
			return false, false
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
func splitFiles(m *manifest.Manifest, o Options) (write, check []manifest.File, err error) {
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
