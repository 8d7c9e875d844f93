package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Blocks is the local store a Client fills. View must not retain the
// slice it passes to fn; PutMany may keep the blocks it is given.
type Blocks interface {
	Has(ctx context.Context, c cid.Cid) (bool, error)
	View(ctx context.Context, c cid.Cid, fn func([]byte) error) error
	PutMany(ctx context.Context, bs []blocks.Block) error
}

// Options tunes one Fetch. The zero value is the default.
type Options struct {
	// PieceSize is the most bytes asked of one peer in one request.
	// Smaller fetches use smaller pieces so that every peer gets several.
	// Default 8 MiB.
	PieceSize int
	// InFlight is how many pieces each peer has requested ahead. Default 8:
	// with 8 MiB pieces, the StreamWindow a link's round trip can carry
	// (64 MiB over 40 ms: 4 pieces halved the 40 ms figure).
	InFlight int
	// Transport is the transport preferred for the stream when a peer is
	// connected over several: "tcp" or "quic". Default "tcp" (measured
	// faster for bulk; see the package benchmarks).
	Transport string
	// ProbeTimeout bounds the first round trip to each peer. Default 10s.
	ProbeTimeout time.Duration
	// StallTimeout drops a peer whose stream delivers no frame for this
	// long while it owes us blocks. Default 20s.
	StallTimeout time.Duration
	// WriteBatch is the bytes of blocks handed to one PutMany. Default
	// 8 MiB.
	WriteBatch int
	// Progress, if set, is called about every ProgressInterval and once at
	// the end, from one goroutine.
	Progress func(Progress)
	// ProgressInterval is the period of Progress calls. Default 500ms.
	ProgressInterval time.Duration
	// RTT, if set, gives a peer's round-trip time as the node measures it
	// (e.g. from libp2p ping); a positive answer ranks the peer instead of
	// the round trip of the fetch's first request. Default: that round
	// trip, blended into the peerstore's LatencyEWMA.
	RTT func(peer.ID) time.Duration
	// MaxRounds bounds the plan/fetch rounds (each round discovers one
	// more level of nodes a peer did not send as structure). Default 16.
	MaxRounds int
	// HaveInterval is the least time between two have requests to one
	// partial holder (each waits at the server for news, so an idle
	// holder costs one request per server HaveWait). Default 250ms.
	HaveInterval time.Duration
	// OnBlock, if set, is called with every block once it is verified
	// and stored (structure nodes and leaves), from the goroutine that
	// stores it. data is the block's own buffer, never modified
	// afterwards: a consumer may keep it (not modify it). A streaming
	// consumer (hashing files as they arrive) hangs off it.
	OnBlock func(c cid.Cid, data []byte)
	// Check, if set, is offered every leaf before the client's own hash
	// check: handled says whether it checked data against c, ok whether
	// they match (a mismatch drops the peer, as the client's own check
	// does). It may decline any block. A consumer that hashes the leaves
	// anyway (a file's sha256) checks them in the same pass.
	Check func(c cid.Cid, data []byte) (handled, ok bool)
}

// Validate reports settings out of range.
func (o Options) Validate() error {
	if o.PieceSize < 0 || o.InFlight < 0 || o.ProbeTimeout < 0 || o.StallTimeout < 0 ||
		o.WriteBatch < 0 || o.ProgressInterval < 0 || o.MaxRounds < 0 || o.HaveInterval < 0 {
		return errors.New("fetch options: negative value")
	}
	switch o.Transport {
	case "", "tcp", "quic":
	default:
		return fmt.Errorf("fetch options: transport %q: want tcp or quic", o.Transport)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.PieceSize == 0 {
		o.PieceSize = 8 << 20
	}
	if o.InFlight == 0 {
		o.InFlight = 8
	}
	if o.Transport == "" {
		o.Transport = "tcp"
	}
	if o.ProbeTimeout == 0 {
		o.ProbeTimeout = 10 * time.Second
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = 20 * time.Second
	}
	if o.WriteBatch == 0 {
		o.WriteBatch = 8 << 20
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = 500 * time.Millisecond
	}
	if o.MaxRounds == 0 {
		o.MaxRounds = 16
	}
	if o.HaveInterval == 0 {
		o.HaveInterval = 250 * time.Millisecond
	}
	return o
}

// Progress is a snapshot of a running fetch.
type Progress struct {
	Bytes   int64             // block bytes received and verified so far
	Total   int64             // bytes missing when the last round started (from link sizes)
	Blocks  int               // blocks received and verified so far
	Rate    float64           // Bytes per second since the fetch began
	Elapsed time.Duration     // since the fetch began
	Peers   map[peer.ID]int64 // bytes received from each peer
}

// PeerStats is what one peer contributed to a fetch.
type PeerStats struct {
	ID     peer.ID
	RTT    time.Duration // Options.RTT's if given, else the probe's; 0 if neither
	Bytes  int64         // bytes of the blocks this peer delivered first (stored)
	Blocks int           // blocks this peer delivered first (stored)
	Dups   int           // blocks that arrived after another peer's copy (endgame)
	Errors int           // failures: refusal, bad block, broken stream
	Err    string        // why the peer was refused or dropped; "" if it served to the end
}

// Stats sums up a fetch.
type Stats struct {
	Bytes    int64         // verified block bytes received and stored (no duplicates)
	Blocks   int           // blocks received and stored (no duplicates)
	Skipped  int           // blocks already in the store when the fetch began
	Duration time.Duration // wall time of Fetch
	Peers    []PeerStats   // in the order the peers were given
}

// RefusedError reports that a peer refused (or could not serve) the root.
type RefusedError struct {
	Peer peer.ID
	Msg  string // the peer's reason, e.g. "policy: jurisdiction FR not allowed"
}

func (e *RefusedError) Error() string { return fmt.Sprintf("peer %s refused: %s", e.Peer, e.Msg) }

// ClientConfig tunes a Client. The zero value is the default.
type ClientConfig struct {
	// Haves, if set, is the node's record of the DAGs it is fetching,
	// shared with its Server: a fetch tracks its root there from the
	// start, records every block once it is verified and stored (so the
	// server serves it to others at once), marks the root complete when
	// done and forgets it. A failed fetch leaves the root tracked (what
	// arrived is still served, and a retry resumes): the node calls
	// Haves.Forget when it gives up. Nil: nothing is recorded.
	Haves *Haves
	// DownloadRate bounds the block bytes per second received over all
	// streams of all fetches together. 0: unlimited.
	DownloadRate int64
	// Logger receives dropped peers. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports a negative setting.
func (c ClientConfig) Validate() error {
	if c.DownloadRate < 0 {
		return errors.New("fetch client config: negative download rate")
	}
	return nil
}

// Client fetches DAGs from peers into a local store.
type Client struct {
	h     host.Host
	bs    Blocks
	log   *slog.Logger
	haves *Haves
	down  *Limiter
}

// NewClient returns a client that fetches over h into bs, with the
// default ClientConfig.
func NewClient(h host.Host, bs Blocks) *Client {
	c, _ := NewClientConfig(h, bs, ClientConfig{})
	return c
}

// NewClientConfig returns a client that fetches over h into bs.
func NewClientConfig(h host.Host, bs Blocks, cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Client{h: h, bs: bs, log: cfg.Logger, haves: cfg.Haves, down: NewLimiter(cfg.DownloadRate)}, nil
}

// DownloadRate returns the download limit in bytes per second; 0:
// unlimited.
func (c *Client) DownloadRate() int64 { return c.down.Rate() }

// peerState is one peer during a fetch.
type peerState struct {
	id    peer.ID
	index int
	sess  *session
	hint  time.Duration // Options.RTT's answer at the start; 0 if none
	rtt   time.Duration
	// lacking: its probe said it lacks the root and it is being probed
	// again (reprobe); until it holds some, nobody waits for it to join.
	lacking atomic.Bool
	// Guarded by sched.mu.
	live     bool
	assigned int64 // bytes handed to this peer
	inflight []*assignment
	rate     float64 // EWMA of delivery rate, bytes/s
	samples  int     // pieces measured into rate
	lastEnd  time.Time
	err      string
	fail     error // why the probe failed
	errors   int
	// probed: the probe's result was folded in (admit). Until then only
	// the probe's goroutine touches p.sess and the probe fields.
	probed    bool
	probeRTT  time.Duration
	probeErr  error
	probeCut  bool // the probe was cut short because the fetch ended
	probeHave Have
	// Have-set, guarded by sched.mu once probed: partial for a peer that
	// is itself fetching the DAG, with the leaves it holds (hleaves 0:
	// not known yet); a full holder is not partial.
	partial bool
	hbits   []uint64
	hleaves int
	hgen    uint64
	// seed: a partial holder that completed during this fetch. It holds
	// every leaf and stays a partial holder for the scheduler (a fellow
	// fetcher's upload, not an origin's to spare).
	seed bool
	// wake is signalled (never closed) when p's have-set grew: its worker,
	// parked in take, looks again.
	wake chan struct{}
	// Updated by the peer's worker.
	bytes  atomic.Int64
	blocks atomic.Int64
	dups   atomic.Int64
}

// Fetch makes every block of the DAG under root present in the client's
// store, fetching what is missing from peers. It returns when the whole
// DAG is stored, or with an error naming why not (with the stats so far).
func (c *Client) Fetch(ctx context.Context, root cid.Cid, peers []peer.ID, opts Options) (Stats, error) {
	start := time.Now()
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	if !root.Defined() {
		return Stats{}, errors.New("fetch: root CID undefined")
	}
	f := &fetcher{c: c, root: root, opts: opts.withDefaults(), start: start, hs: c.haves.Track(root)}
	seen := map[peer.ID]bool{c.h.ID(): true}
	for _, p := range peers {
		if seen[p] {
			continue
		}
		seen[p] = true
		ps := &peerState{id: p, index: len(f.peers), wake: make(chan struct{}, 1)}
		if f.opts.RTT != nil {
			// Until its probe answers, a peer ranks by the node's
			// measure, if any (see sched.shares).
			ps.hint = max(f.opts.RTT(p), 0)
			ps.rtt = ps.hint
		}
		f.peers = append(f.peers, ps)
	}
	defer f.closeSessions()
	err := f.run(ctx)
	f.endProbes()
	st := f.stats()
	st.Duration = time.Since(start)
	if f.opts.Progress != nil {
		f.opts.Progress(f.progress())
	}
	if err != nil {
		return st, fmt.Errorf("fetch %s: %w", root, err)
	}
	if f.hs != nil {
		// Peers waiting on the set hear "all"; from now on the store
		// answers for the root.
		f.hs.Complete()
		c.haves.Forget(root)
	}
	return st, nil
}

type fetcher struct {
	c     *Client
	root  cid.Cid
	opts  Options
	start time.Time
	peers []*peerState

	total   atomic.Int64 // bytes missing at the start of the current round
	bytes   atomic.Int64 // stored bytes (no duplicates)
	blocks  atomic.Int64
	skipped int
	// hs records what the node holds of root for its server (nil: no
	// record); nleaves is the DAG's leaf count once the plan knows it.
	hs      *HaveSet
	nleaves int

	// Probes run beside the fetch; see startProbes. pending counts the
	// probes not yet admitted (guarded by the sched's lock while one runs).
	probes     chan *peerState
	probeWG    sync.WaitGroup
	stopProbes context.CancelFunc
	pending    int
}

func (f *fetcher) stats() Stats {
	st := Stats{Bytes: f.bytes.Load(), Blocks: int(f.blocks.Load()), Skipped: f.skipped}
	for _, p := range f.peers {
		st.Peers = append(st.Peers, PeerStats{
			ID: p.id, RTT: p.rtt, Bytes: p.bytes.Load(), Blocks: int(p.blocks.Load()), Dups: int(p.dups.Load()),
			Errors: p.errors, Err: p.err,
		})
	}
	return st
}

func (f *fetcher) progress() Progress {
	el := time.Since(f.start)
	pr := Progress{
		Bytes: f.bytes.Load(), Total: f.total.Load(), Blocks: int(f.blocks.Load()),
		Elapsed: el, Peers: make(map[peer.ID]int64, len(f.peers)),
	}
	if el > 0 {
		pr.Rate = float64(pr.Bytes) / el.Seconds()
	}
	for _, p := range f.peers {
		pr.Peers[p.id] = p.bytes.Load()
	}
	return pr
}

func (f *fetcher) closeSessions() {
	f.endProbes()
	for _, p := range f.peers {
		if p.sess != nil {
			p.sess.close()
			p.sess = nil
		}
	}
}

func (f *fetcher) run(ctx context.Context) error {
	if f.opts.Progress != nil {
		pctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(f.opts.ProgressInterval)
			defer t.Stop()
			for {
				select {
				case <-pctx.Done():
					return
				case <-t.C:
					f.opts.Progress(f.progress())
				}
			}
		})
		defer wg.Wait()
		defer cancel()
	}
	probed := false
	structured := false
	for round := 0; round < f.opts.MaxRounds; round++ {
		p, err := f.plan(ctx)
		if err != nil {
			return err
		}
		if round == 0 {
			f.skipped = p.present
		}
		f.record(p)
		if len(p.missing) == 0 {
			return nil
		}
		if !probed {
			f.startProbes(ctx)
			probed = true
		}
		if err := f.awaitLive(ctx); err != nil {
			return err
		}
		if p.needStructure && !structured {
			structured = true
			if err := f.fetchStructure(ctx); err != nil {
				return err
			}
			continue // plan again, now with the leaves known
		}
		if err := f.fetchWants(ctx, p.missing); err != nil {
			return err
		}
	}
	return fmt.Errorf("DAG still incomplete after %d rounds", f.opts.MaxRounds)
}

// want is a block to fetch; size is the link's Tsize (exact for raw
// leaves, an estimate otherwise, 0 when unknown); leaf is its index among
// the DAG's leaves (depth-first, as the server numbers them), -1 when
// not known.
type want struct {
	c    cid.Cid
	size int64
	leaf int
}

type plan struct {
	missing       []want
	present       int
	needStructure bool  // a dag-pb node is missing
	leaves        int   // leaves of the DAG, when no dag-pb node is missing
	presentLeaves []int // leaves already stored
}

// record notes the plan in the node's have-set: the leaf count, once no
// dag-pb node is missing, and the leaves already stored.
func (f *fetcher) record(p plan) {
	f.nleaves = 0
	if p.needStructure {
		return
	}
	f.nleaves = p.leaves
	if f.hs == nil {
		return
	}
	if err := f.hs.SetLeaves(p.leaves); err != nil {
		f.c.log.Warn("fetch: have-set", "root", f.root, "err", err)
		return
	}
	for _, i := range p.presentLeaves {
		f.hs.Add(i)
	}
}

// plan walks the local part of the DAG in depth-first order and lists the
// blocks missing from it.
func (f *fetcher) plan(ctx context.Context) (plan, error) {
	var p plan
	bs := f.c.bs
	type item struct {
		c    cid.Cid
		size uint64
	}
	stack := []item{{c: f.root}}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.c.Type() != cid.DagProtobuf {
			ok, err := bs.Has(ctx, it.c)
			if err != nil {
				return p, fmt.Errorf("local store: has %s: %w", it.c, err)
			}
			if ok {
				p.present++
				p.presentLeaves = append(p.presentLeaves, p.leaves)
			} else {
				p.missing = append(p.missing, want{c: it.c, size: int64(it.size), leaf: p.leaves})
			}
			p.leaves++
			continue
		}
		var ls []link
		err := bs.View(ctx, it.c, func(b []byte) error {
			var err error
			ls, err = links(it.c, b)
			return err
		})
		if err != nil {
			ok, herr := bs.Has(ctx, it.c)
			if herr != nil || ok {
				return p, fmt.Errorf("local store: read %s: %w", it.c, err)
			}
			p.needStructure = true
			// The Tsize of a node covers its subtree; a block is at most
			// MaxBlockSize.
			p.missing = append(p.missing, want{c: it.c, size: int64(min(it.size, MaxBlockSize)), leaf: -1})
			continue
		}
		p.present++
		if len(ls) == 0 {
			// A dag-pb node without links is a leaf to the server too.
			p.presentLeaves = append(p.presentLeaves, p.leaves)
			p.leaves++
		}
		for i := len(ls) - 1; i >= 0; i-- {
			stack = append(stack, item{c: ls[i].c, size: ls[i].size})
		}
		if len(stack) > maxIndexBlocks {
			return p, fmt.Errorf("DAG over %d pending blocks", maxIndexBlocks)
		}
	}
	return p, nil
}

// session returns p's stream, opening it when needed.
func (f *fetcher) session(ctx context.Context, p *peerState) (*session, error) {
	if p.sess != nil {
		return p.sess, nil
	}
	s, err := openSession(ctx, f.c.h, p.id, f.opts.Transport)
	if err != nil {
		return nil, err
	}
	p.sess = s
	return s, nil
}

func (f *fetcher) resetSession(p *peerState) {
	if p.sess != nil {
		p.sess.close()
		p.sess = nil
	}
}

const probeRounds = 3

// startProbes asks every peer, each on its own goroutine, whether it
// serves the root and measures the round trip. Nothing waits for all of
// them: each result arrives on f.probes and admit folds it in, so the
// fetch starts on the first peer to answer and a far peer joins when its
// answer comes.
func (f *fetcher) startProbes(ctx context.Context) {
	f.probes = make(chan *peerState, len(f.peers))
	f.pending = len(f.peers)
	pctx, cancel := context.WithCancel(ctx)
	f.stopProbes = cancel
	for _, p := range f.peers {
		f.probeWG.Go(func() {
			f.probeOne(pctx, p)
			f.reprobe(pctx, p)
			f.probes <- p
		})
	}
}

// reprobe probes again, after HaveInterval and then less often, a peer that said it lacks the
// root while the node fetches as part of a swarm (with a Haves): a member
// that starts fetching the same DAG a moment later becomes a source. It
// gives up after StallTimeout.
func (f *fetcher) reprobe(ctx context.Context, p *peerState) {
	if f.hs == nil {
		return
	}
	deadline := time.Now().Add(f.opts.StallTimeout)
	wait := f.opts.HaveInterval
	defer p.lacking.Store(false)
	for lacksRoot(p.probeErr) && time.Now().Before(deadline) {
		p.lacking.Store(true)
		t := time.NewTimer(wait)
		// Twice as long each time, up to 8 have intervals: a member that
		// never fetches the root costs a few probes.
		wait = min(2*wait, 8*f.opts.HaveInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			p.probeCut = true
			return
		case <-t.C:
		}
		p.probeErr = nil
		f.probeOne(ctx, p)
	}
}

// awaited counts the probes still out but for peers known to lack the
// root (being probed again): the answers worth waiting for.
func (f *fetcher) awaited() int {
	n := f.pending
	for _, p := range f.peers {
		if p.lacking.Load() {
			n--
		}
	}
	return max(n, 0)
}

// lacksRoot says a probe failed only because the peer does not hold the
// root (yet), as opposed to refusing it or failing.
func lacksRoot(err error) bool {
	var re *RefusedError
	return errors.As(err, &re) && strings.HasPrefix(re.Msg, "not found: root ")
}

// probeOne probes p. It writes only p's probe fields and p.sess, which
// nobody else touches until p comes out of f.probes.
func (f *fetcher) probeOne(ctx context.Context, p *peerState) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.ProbeTimeout)
	defer cancel()
	// The least of a few round trips: one alone may catch a scheduling
	// hiccup and rank an equal peer as far. When the node already measured
	// the round trip (pings), one answer says all we still need: whether
	// the peer serves the root.
	rounds := probeRounds
	if f.opts.RTT != nil && f.opts.RTT(p.id) > 0 {
		rounds = 1
	}
	s, err := openSession(ctx, f.c.h, p.id, f.opts.Transport)
	if err != nil {
		p.probeCut = ctx.Err() != nil && context.Cause(ctx) != context.DeadlineExceeded
		p.probeErr = fmt.Errorf("peer %s: %w", p.id, err)
		return
	}
	// A far peer's probe must not hold up the end of a fetch that is done
	// without it: cancelling resets the stream under the read.
	stop := context.AfterFunc(ctx, s.close)
	var probe time.Duration
	var fr Frame
	for i := 0; i < rounds && err == nil; i++ {
		t0 := time.Now()
		if err = s.send(Request{Kind: KindProbe, Root: f.root}); err != nil {
			break
		}
		if fr, err = s.read(f.opts.ProbeTimeout); err != nil || fr.Type != FrameEnd {
			break
		}
		if d := time.Since(t0); i == 0 || d < probe {
			probe = d
		}
	}
	if !stop() {
		// Cut short by the fetch ending (or the probe timeout).
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			p.probeErr = fmt.Errorf("peer %s: probe: %w", p.id, context.DeadlineExceeded)
		} else {
			p.probeCut = true
			p.probeErr = fmt.Errorf("peer %s: probe cancelled", p.id)
		}
		s.close()
		return
	}
	switch {
	case err != nil:
		p.probeErr = fmt.Errorf("peer %s: %w", p.id, err)
	case fr.Type == FrameError:
		p.probeErr = &RefusedError{Peer: p.id, Msg: fr.Msg}
	case fr.Type != FrameEnd:
		p.probeErr = fmt.Errorf("peer %s: probe answered with frame type %d", p.id, fr.Type)
	default:
		// What the peer holds of the root: all, or a have-set.
		if p.probeHave, err = askHave(s, f.root, 0, f.opts.ProbeTimeout); err != nil {
			p.probeErr = fmt.Errorf("peer %s: %w", p.id, err)
			break
		}
		p.probeRTT = probe
		p.sess = s
		return
	}
	s.close()
}

// admit folds in p's probe result: p joins the fetch or is left out. The
// caller holds the sched's lock while a sched runs.
func (f *fetcher) admit(p *peerState) {
	p.probed = true
	f.pending--
	if p.probeErr != nil {
		p.fail = p.probeErr
		p.err = p.fail.Error()
		p.errors++
		return
	}
	ps := f.c.h.Peerstore()
	ps.RecordLatency(p.id, p.probeRTT)
	p.rtt = ps.LatencyEWMA(p.id)
	if f.opts.RTT != nil {
		if r := f.opts.RTT(p.id); r > 0 {
			p.rtt = r
		}
	}
	if p.rtt <= 0 {
		p.rtt = p.probeRTT
	}
	p.applyHave(p.probeHave)
	p.live = true
}

// awaitLive admits the probes that have answered and, if no peer is live
// yet, waits for the next answer until one is or every probe failed.
func (f *fetcher) awaitLive(ctx context.Context) error {
	for {
	drain:
		for {
			select {
			case p := <-f.probes:
				f.admit(p)
			default:
				break drain
			}
		}
		for _, p := range f.peers {
			if p.live {
				return nil
			}
		}
		if f.pending == 0 {
			break
		}
		select {
		case p := <-f.probes:
			f.admit(p)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var fails []error
	for _, p := range f.peers {
		if p.fail != nil {
			fails = append(fails, p.fail)
		}
	}
	if len(fails) == 0 {
		return errors.New("no peers given")
	}
	// errors.As finds a *RefusedError in it when a peer refused.
	return fmt.Errorf("no peer serves it: %w", errors.Join(fails...))
}

// endProbes cuts the probes still running and waits for them. A probe
// that answered is folded in (its refusal shows in the stats); one cut
// short because the fetch was done without it is no fault of the peer.
func (f *fetcher) endProbes() {
	if f.probes == nil {
		return
	}
	f.stopProbes()
	f.probeWG.Wait()
	for f.pending > 0 {
		p := <-f.probes
		if p.probeCut {
			p.probed = true
			f.pending--
			continue
		}
		f.admit(p)
	}
}

// ranked returns the live peers, lowest round trip first.
func (f *fetcher) ranked() []*peerState {
	var out []*peerState
	for _, p := range f.peers {
		if p.live {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b *peerState) int { return int(a.rtt - b.rtt) })
	return out
}

// drop takes p out of the fetch.
func (f *fetcher) drop(p *peerState, why string) {
	p.live = false
	p.err = why
	p.errors++
	f.resetSession(p)
	f.c.log.Info("fetch: dropped peer", "peer", p.id, "root", f.root, "why", why)
}

// fetchStructure gets the dag-pb nodes with links from the nearest peer
// that delivers them. Every node must be linked from one received before
// it (the root first), so a peer cannot slip in blocks of another DAG.
func (f *fetcher) fetchStructure(ctx context.Context) error {
	// Full holders first: a peer still fetching may lack the structure.
	peers := f.ranked()
	slices.SortStableFunc(peers, func(a, b *peerState) int {
		return structureRank(a) - structureRank(b)
	})
	for _, p := range peers {
		err := f.structureFrom(ctx, p)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var bad *badPeerError
		if errors.As(err, &bad) {
			f.drop(p, err.Error())
		} else {
			p.errors++
			f.resetSession(p)
		}
	}
	// What is missing now goes to the leaf phase; the next plan finds
	// the rest.
	return nil
}

// structureRank orders peers for the structure: full holders, then
// partial ones that know the leaves (they hold the structure), then the
// rest.
func structureRank(p *peerState) int {
	switch {
	case !p.partial:
		return 0
	case p.hleaves > 0:
		return 1
	}
	return 2
}

// badPeerError marks a peer that broke the protocol or sent a bad block.
type badPeerError struct{ msg string }

func (e *badPeerError) Error() string { return e.msg }

func (f *fetcher) structureFrom(ctx context.Context, p *peerState) error {
	s, err := f.session(ctx, p)
	if err != nil {
		return err
	}
	if err := s.send(Request{Kind: KindStructure, Root: f.root}); err != nil {
		return err
	}
	expected := map[string]bool{string(f.root.Hash()): true}
	var batch []blocks.Block
	var batchBytes int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := f.c.bs.PutMany(context.WithoutCancel(ctx), batch)
		if err == nil && f.opts.OnBlock != nil {
			for _, b := range batch {
				f.opts.OnBlock(b.Cid(), b.RawData())
			}
		}
		batch, batchBytes = batch[:0], 0
		if err != nil {
			return fmt.Errorf("local store: %w", err)
		}
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		fr, err := s.read(f.opts.StallTimeout)
		if err != nil {
			return err
		}
		switch fr.Type {
		case FrameEnd:
			return flush()
		case FrameError:
			return &RefusedError{Peer: p.id, Msg: fr.Msg}
		case FrameMissing:
			continue
		case FrameBlock:
		default:
			return &badPeerError{fmt.Sprintf("structure: frame type %d", fr.Type)}
		}
		key := string(fr.CID.Hash())
		if !expected[key] {
			return &badPeerError{fmt.Sprintf("structure: block %s not linked from the DAG", fr.CID)}
		}
		delete(expected, key)
		if err := verify(fr.CID, fr.Data); err != nil {
			return &badPeerError{fmt.Sprintf("bad block %s: %v", fr.CID, err)}
		}
		ls, err := links(fr.CID, fr.Data)
		if err != nil {
			return &badPeerError{fmt.Sprintf("bad block %s: %v", fr.CID, err)}
		}
		for _, l := range ls {
			expected[string(l.c.Hash())] = true
		}
		if ok, _ := f.c.bs.Has(ctx, fr.CID); !ok {
			b, _ := blocks.NewBlockWithCid(fr.Data, fr.CID)
			batch = append(batch, b)
			batchBytes += len(fr.Data)
			f.bytes.Add(int64(len(fr.Data)))
			f.blocks.Add(1)
			p.bytes.Add(int64(len(fr.Data)))
			p.blocks.Add(1)
		}
		if batchBytes >= f.opts.WriteBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// rated says whether p's delivery rate rests on enough pieces to act on:
// one piece may have met a scheduling hiccup.
func (p *peerState) rated() bool { return p.samples >= 3 }
