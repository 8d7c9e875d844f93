package repair

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
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// Audit entry kinds of the store's integrity.
const (
	KindBlockBad      = "block-bad"      // a stored block did not match its CID (read or scrub)
	KindBlockRepaired = "block-repaired" // a bad block was rewritten with bytes fetched from a member
)

// Defaults.
const (
	// DefaultMirrorScrubInterval is store.scrub_interval on a node whose
	// certificate has the mirror role; other nodes do not scrub unless
	// configured.
	DefaultMirrorScrubInterval = 24 * time.Hour
	// DefaultScrubRate is store.scrub_rate: bytes re-hashed per second.
	DefaultScrubRate = 64 << 20
	// queueLen bounds blocks waiting for repair; more are left to the
	// next retry (they stay marked bad).
	queueLen = 256
	// retryEvery is how often blocks still marked bad (no member held
	// them, none was connected) are tried again.
	retryEvery = 5 * time.Minute
	// startWait bounds the wait for a first member before repairing
	// blocks found bad before this start.
	startWait = 30 * time.Second
)

// Store is what the worker needs of the block store.
type Store interface {
	BadBlocks(ctx context.Context) ([]cid.Cid, error)
	ReposOf(ctx context.Context, c cid.Cid) ([]string, error)
	Refs(ctx context.Context, kind manifest.Kind, repo string) ([]store.Ref, error)
	Repair(ctx context.Context, bs []blocks.Block) (int, error)
	Scrub(ctx context.Context, o store.ScrubOptions) (store.ScrubResult, error)
}

// Finder finds the members to fetch from.
type Finder interface {
	// Connected reports whether any member is connected.
	Connected() bool
	// Holders returns the members that hold revision r and may send it.
	Holders(ctx context.Context, r store.Ref) ([]peer.ID, error)
}

// Fetcher fetches blocks of a revision verified; *fetch.Client is one.
type Fetcher interface {
	Blocks(ctx context.Context, root cid.Cid, want []cid.Cid, peers []peer.ID) ([]blocks.Block, error)
}

// Auditor keeps the audit entries; *sovereignty.Audit is one.
type Auditor interface {
	Append(e sovereignty.Entry) error
}

// Config is a Worker's.
type Config struct {
	Store Store
	// Finder and Fetcher are nil when peer-to-peer is off: nothing can be
	// repaired then, only found.
	Finder  Finder
	Fetcher Fetcher
	Audit   Auditor
	// ScrubInterval: 0, never scrub.
	ScrubInterval time.Duration
	// ScrubRate bounds the scrub's bytes a second; 0, unbounded.
	ScrubRate int64
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Validate reports a Config that cannot work.
func (c Config) Validate() error {
	if c.Store == nil || c.Audit == nil {
		return errors.New("repair: Store and Audit are required")
	}
	if (c.Finder == nil) != (c.Fetcher == nil) {
		return errors.New("repair: Finder and Fetcher go together")
	}
	if c.ScrubInterval < 0 || c.ScrubRate < 0 {
		return errors.New("repair: negative scrub interval or rate")
	}
	return nil
}

// Worker is the repair worker and scrub, with their counters.
type Worker struct {
	cfg     Config
	log     *slog.Logger
	queue   chan cid.Cid
	mu      sync.Mutex
	pending map[cid.Cid]bool

	found, repaired, scrubbed prometheus.Counter
}

// New returns a Worker; Run runs it.
func New(cfg Config) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Worker{
		cfg: cfg, log: log,
		queue:   make(chan cid.Cid, queueLen),
		pending: map[cid.Cid]bool{},
		found: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_blocks_bad_found_total",
			Help: "Stored blocks found not to match their CID (on read or by the scrub)."}),
		repaired: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_blocks_repaired_total",
			Help: "Bad blocks rewritten with verified bytes fetched from members."}),
		scrubbed: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_scrub_bytes_total",
			Help: "Block bytes re-hashed by the scrub."}),
	}, nil
}

// Collectors are the worker's counters, for a metrics registry.
func (w *Worker) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.found, w.repaired, w.scrubbed}
}

// Corrupt is the store's report of a bad block: audited, counted, queued
// for repair once.
func (w *Worker) Corrupt(c cid.Cid) {
	w.mu.Lock()
	if w.pending[c] {
		w.mu.Unlock()
		return
	}
	w.pending[c] = true
	w.mu.Unlock()
	w.found.Inc()
	w.record(sovereignty.Entry{Kind: KindBlockBad, Subject: c.String(), Reason: "stored bytes do not match the CID; marked bad, repair queued"})
	select {
	case w.queue <- c:
	default:
		w.log.Warn("repair queue full: block stays marked bad until the next scrub or `cairn verify --repair`", "cid", c)
	}
}

// Run repairs blocks as they are reported and scrubs the store every
// ScrubInterval, until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	var tick <-chan time.Time
	if iv := w.cfg.ScrubInterval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
		w.log.Info("store scrub on", "interval", iv, "rate_bytes_per_s", w.cfg.ScrubRate)
	}
	retry := time.NewTicker(retryEvery)
	defer retry.Stop()
	// Blocks marked bad before this start (a crash, an offline verify),
	// once a member is there to ask (or startWait has passed).
	const poll = 250 * time.Millisecond
	start := time.NewTicker(poll)
	defer start.Stop()
	deadline := time.Now().Add(startWait)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-start.C:
			if w.cfg.Finder == nil || w.cfg.Finder.Connected() || time.Now().After(deadline) {
				start.Stop()
				w.repairMarked(ctx)
			}
		case <-retry.C:
			w.repairMarked(ctx)
		case c := <-w.queue:
			w.RepairBlocks(ctx, []cid.Cid{c})
			w.mu.Lock()
			delete(w.pending, c)
			w.mu.Unlock()
		case <-tick:
			if _, err := w.Scrub(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("scrub", "err", err)
			}
		}
	}
}

// repairMarked repairs every block marked bad, if any.
func (w *Worker) repairMarked(ctx context.Context) {
	if bad, err := w.cfg.Store.BadBlocks(ctx); err == nil && len(bad) > 0 {
		w.RepairBlocks(ctx, bad)
	}
}

// ScrubReport is what a scrub found and mended.
type ScrubReport struct {
	Blocks, Bytes int64
	Bad           []cid.Cid
	Repair        Report
}

// Scrub re-hashes every stored block at ScrubRate and repairs the bad
// ones found.
func (w *Worker) Scrub(ctx context.Context) (ScrubReport, error) {
	var last int64
	res, err := w.cfg.Store.Scrub(ctx, store.ScrubOptions{Rate: w.cfg.ScrubRate, Progress: func(b, _ int64) {
		w.scrubbed.Add(float64(b - last))
		last = b
	}})
	w.scrubbed.Add(float64(res.Bytes - last))
	rep := ScrubReport{Blocks: res.Blocks, Bytes: res.Bytes, Bad: res.Bad}
	if err != nil {
		return rep, err
	}
	w.log.Info("scrub done", "blocks", res.Blocks, "bytes", res.Bytes, "bad", len(res.Bad))
	if len(res.Bad) > 0 {
		rep.Repair = w.RepairBlocks(ctx, res.Bad)
	}
	return rep, nil
}

// Report lists the blocks a repair rewrote and those it could not.
type Report struct {
	Repaired []cid.Cid
	Failed   map[cid.Cid]string // why
}

// RepairBlocks rewrites bad blocks with verified bytes from members: for
// each, the revisions holding it (store index), the members that hold
// those and may send them (Finder), the block fetched verified (Fetcher)
// and rewritten (Store.Repair). Each repair is audited and counted.
func (w *Worker) RepairBlocks(ctx context.Context, bad []cid.Cid) Report {
	rep := Report{Failed: map[cid.Cid]string{}}
	for _, c := range bad {
		if ctx.Err() != nil {
			rep.Failed[c] = ctx.Err().Error()
			continue
		}
		if err := w.repairBlock(ctx, c); err != nil {
			rep.Failed[c] = err.Error()
			w.log.Warn("repair block", "cid", c, "err", err)
			continue
		}
		rep.Repaired = append(rep.Repaired, c)
	}
	return rep
}

func (w *Worker) repairBlock(ctx context.Context, c cid.Cid) error {
	if w.cfg.Finder == nil {
		return errors.New("peer-to-peer is off (no certificate): no member to fetch it from")
	}
	st := w.cfg.Store
	repos, err := st.ReposOf(ctx, c)
	if err != nil {
		return err
	}
	if len(repos) == 0 {
		return errors.New("no live revision holds it (gc deletes it)")
	}
	var errs []error
	for _, repo := range repos {
		refs, err := st.Refs(ctx, "", repo)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, r := range refs {
			if seen[r.Commit] {
				continue
			}
			seen[r.Commit] = true
			err := w.repairFrom(ctx, c, r)
			if err == nil {
				return nil
			}
			errs = append(errs, fmt.Errorf("%s@%s: %w", r.Repo, r.Commit, err))
		}
	}
	return errors.Join(errs...)
}

// repairFrom fetches c from the members holding revision r.
func (w *Worker) repairFrom(ctx context.Context, c cid.Cid, r store.Ref) error {
	sources, err := w.cfg.Finder.Holders(ctx, r)
	if err != nil {
		return err
	}
	bs, err := w.cfg.Fetcher.Blocks(ctx, r.Root, []cid.Cid{c}, sources)
	if err != nil {
		return err
	}
	n, err := w.cfg.Store.Repair(ctx, bs)
	if err != nil {
		return err
	}
	if n == 0 {
		// Another repair (or a re-import) got there first, or the mark is
		// gone: nothing bad is left under c either way.
		if !w.isBad(ctx, c) {
			return nil
		}
		return errors.New("the fetched block was not written")
	}
	w.repaired.Add(float64(n))
	w.record(sovereignty.Entry{Kind: KindBlockRepaired, Subject: c.String(), Repo: r.Repo + "@" + r.Commit,
		Reason: fmt.Sprintf("rewritten with verified bytes from %d member(s) holding the revision", len(sources))})
	return nil
}

func (w *Worker) isBad(ctx context.Context, c cid.Cid) bool {
	bad, err := w.cfg.Store.BadBlocks(ctx)
	if err != nil {
		return true
	}
	for _, b := range bad {
		if b.Hash().HexString() == c.Hash().HexString() {
			return true
		}
	}
	return false
}

// record appends an entry to the audit log itself, not through a dedup
// auditor: each block's entry counts.
func (w *Worker) record(e sovereignty.Entry) {
	if err := w.cfg.Audit.Append(e); err != nil {
		w.log.Error("audit", "err", err)
	}
}
