package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnhub/cairn/p2p/catalog"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// Audit entry kinds of the store's integrity.
const (
	KindBlockBad      = "block-bad"      // a stored block did not match its CID (read or scrub)
	KindBlockRepaired = "block-repaired" // a bad block was rewritten with bytes fetched from a member
)

// Integrity defaults.
const (
	// DefaultMirrorScrubInterval is store.scrub_interval on a node whose
	// certificate has the mirror role; other nodes do not scrub unless
	// configured.
	DefaultMirrorScrubInterval = 24 * time.Hour
	// DefaultScrubRate is store.scrub_rate: bytes re-hashed per second.
	DefaultScrubRate = 64 << 20
	// repairQueue bounds blocks waiting for repair; more are left to the
	// next retry (they stay marked bad).
	repairQueue = 256
	// repairRetry is how often blocks still marked bad (no member held
	// them, none was connected) are tried again.
	repairRetry = 5 * time.Minute
	// repairStartWait bounds the wait for a first member before repairing
	// blocks found bad before this start.
	repairStartWait = 30 * time.Second
)

// integrity is the daemon's repair worker and scrub, with their counters.
type integrity struct {
	once    sync.Once
	queue   chan cid.Cid
	mu      sync.Mutex
	pending map[cid.Cid]bool

	found, repaired, scrubbed prometheus.Counter
}

func (g *integrity) init() {
	g.once.Do(func() {
		g.queue = make(chan cid.Cid, repairQueue)
		g.pending = map[cid.Cid]bool{}
		g.found = prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_blocks_bad_found_total",
			Help: "Stored blocks found not to match their CID (on read or by the scrub)."})
		g.repaired = prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_blocks_repaired_total",
			Help: "Bad blocks rewritten with verified bytes fetched from members."})
		g.scrubbed = prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_scrub_bytes_total",
			Help: "Block bytes re-hashed by the scrub."})
	})
}

// startIntegrity sends the store's corrupt blocks to the repair worker
// and registers the counters.
func (d *Daemon) startIntegrity() {
	d.integ.init()
	d.metrics.Registry.MustRegister(d.integ.found, d.integ.repaired, d.integ.scrubbed)
	d.n.setOnCorrupt(d.blockCorrupt)
}

// blockCorrupt is the store's report of a bad block: audited, counted,
// queued for repair once.
func (d *Daemon) blockCorrupt(c cid.Cid) {
	g := &d.integ
	g.mu.Lock()
	if g.pending[c] {
		g.mu.Unlock()
		return
	}
	g.pending[c] = true
	g.mu.Unlock()
	g.found.Inc()
	d.record(sovereignty.Entry{Kind: KindBlockBad, Subject: c.String(), Reason: "stored bytes do not match the CID; marked bad, repair queued"})
	select {
	case g.queue <- c:
	default:
		d.log.Warn("repair queue full: block stays marked bad until the next scrub or `cairn verify --repair`", "cid", c)
	}
}

// ScrubInterval is how often this daemon scrubs its store: store.
// scrub_interval, else by role (mirrors daily, others never). 0: never.
func (d *Daemon) ScrubInterval() time.Duration {
	if iv := d.n.Config.Store.ScrubInterval; iv != nil {
		return time.Duration(*iv)
	}
	if d.self != nil && slices.Contains(d.self.Roles, "mirror") {
		return DefaultMirrorScrubInterval
	}
	return 0
}

// runIntegrity repairs blocks as they are reported and scrubs the store
// every ScrubInterval.
func (d *Daemon) runIntegrity(ctx context.Context) error {
	g := &d.integ
	var tick <-chan time.Time
	if iv := d.ScrubInterval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
		d.log.Info("store scrub on", "interval", iv, "rate_bytes_per_s", d.scrubRate())
	}
	retry := time.NewTicker(repairRetry)
	defer retry.Stop()
	// Blocks marked bad before this start (a crash, an offline verify),
	// once a member is there to ask (or repairStartWait has passed).
	const poll = 250 * time.Millisecond
	start := time.NewTicker(poll)
	defer start.Stop()
	deadline := time.Now().Add(repairStartWait)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-start.C:
			if d.Host == nil || len(d.Host.Peers()) > 0 || time.Now().After(deadline) {
				start.Stop()
				d.repairMarked(ctx)
			}
		case <-retry.C:
			d.repairMarked(ctx)
		case c := <-g.queue:
			d.RepairBlocks(ctx, []cid.Cid{c})
			g.mu.Lock()
			delete(g.pending, c)
			g.mu.Unlock()
		case <-tick:
			if _, err := d.Scrub(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("scrub", "err", err)
			}
		}
	}
}

// repairMarked repairs every block marked bad, if any.
func (d *Daemon) repairMarked(ctx context.Context) {
	if bad, err := d.n.Store.BadBlocks(ctx); err == nil && len(bad) > 0 {
		d.RepairBlocks(ctx, bad)
	}
}

func (d *Daemon) scrubRate() int64 { return d.n.Config.WithDefaults().Store.ScrubRate }

// ScrubReport is what a scrub found and mended.
type ScrubReport struct {
	Blocks, Bytes int64
	Bad           []cid.Cid
	Repair        RepairReport
}

// Scrub re-hashes every stored block at store.scrub_rate and repairs the
// bad ones found.
func (d *Daemon) Scrub(ctx context.Context) (ScrubReport, error) {
	d.integ.init()
	var last int64
	res, err := d.n.Store.Scrub(ctx, store.ScrubOptions{Rate: d.scrubRate(), Progress: func(b, _ int64) {
		d.integ.scrubbed.Add(float64(b - last))
		last = b
	}})
	d.integ.scrubbed.Add(float64(res.Bytes - last))
	rep := ScrubReport{Blocks: res.Blocks, Bytes: res.Bytes, Bad: res.Bad}
	if err != nil {
		return rep, err
	}
	d.log.Info("scrub done", "blocks", res.Blocks, "bytes", res.Bytes, "bad", len(res.Bad))
	if len(res.Bad) > 0 {
		rep.Repair = d.RepairBlocks(ctx, res.Bad)
	}
	return rep, nil
}

// RepairReport lists the blocks a repair rewrote and those it could not.
type RepairReport struct {
	Repaired []cid.Cid
	Failed   map[cid.Cid]string // why
}

// RepairBlocks rewrites bad blocks with verified bytes from members: for
// each, the revisions holding it (store index), the members that hold
// those and may send them (catalog, whose answer the residency policy
// decides), the block fetched verified (fetch Blocks) and rewritten
// (store Repair). Each repair is audited and counted.
func (d *Daemon) RepairBlocks(ctx context.Context, bad []cid.Cid) RepairReport {
	d.integ.init()
	rep := RepairReport{Failed: map[cid.Cid]string{}}
	for _, c := range bad {
		if ctx.Err() != nil {
			rep.Failed[c] = ctx.Err().Error()
			continue
		}
		if err := d.repairBlock(ctx, c); err != nil {
			rep.Failed[c] = err.Error()
			d.log.Warn("repair block", "cid", c, "err", err)
			continue
		}
		rep.Repaired = append(rep.Repaired, c)
	}
	return rep
}

func (d *Daemon) repairBlock(ctx context.Context, c cid.Cid) error {
	if d.Host == nil {
		return errors.New("peer-to-peer is off (no certificate): no member to fetch it from")
	}
	st := d.n.Store
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
			err := d.repairFrom(ctx, c, r)
			if err == nil {
				return nil
			}
			errs = append(errs, fmt.Errorf("%s@%s: %w", r.Repo, r.Commit, err))
		}
	}
	return errors.Join(errs...)
}

// repairFrom fetches c from the members holding revision r.
func (d *Daemon) repairFrom(ctx context.Context, c cid.Cid, r store.Ref) error {
	_, sources, err := d.findManifest(ctx, catalog.Query{Kind: r.Kind, Repo: r.Repo, Revision: r.Commit}, 0)
	if err != nil {
		return err
	}
	bs, err := d.Client.Blocks(ctx, r.Root, []cid.Cid{c}, sources)
	if err != nil {
		return err
	}
	n, err := d.n.Store.Repair(ctx, bs)
	if err != nil {
		return err
	}
	if n == 0 {
		// Another repair (or a re-import) got there first, or the mark is
		// gone: nothing bad is left under c either way.
		if !d.isBad(ctx, c) {
			return nil
		}
		return errors.New("the fetched block was not written")
	}
	d.integ.repaired.Add(float64(n))
	d.record(sovereignty.Entry{Kind: KindBlockRepaired, Subject: c.String(), Repo: r.Repo + "@" + r.Commit,
		Reason: fmt.Sprintf("rewritten with verified bytes from %d member(s) holding the revision", len(sources))})
	return nil
}

func (d *Daemon) isBad(ctx context.Context, c cid.Cid) bool {
	bad, err := d.n.Store.BadBlocks(ctx)
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

// record appends an entry to the audit log itself, not through the
// dedup auditor: each block's entry counts.
func (d *Daemon) record(e sovereignty.Entry) {
	if err := d.Audit.Append(e); err != nil {
		d.log.Error("audit", "err", err)
	}
}
