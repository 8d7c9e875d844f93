package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/replicate"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// Replication protocols. Both are pushes over membership-gated streams:
// only verified members may send, and each message is one
// replicate.Message read to EOF.
const (
	// ProtocolPins carries pin intents. A node pushes every intent it
	// knows to a member that joins, and each new or changed intent to every
	// member; a receiver keeps an intent only when it is newer than the
	// one it holds (replicate.Intent.Newer) and pushes what changed on, so
	// intents flood without consensus.
	ProtocolPins protocol.ID = "/cairn/pins/1.0.0"
	// ProtocolHoldings carries a node's holdings: free capacity and the
	// revisions it holds. Sent to every member each interval, when a member
	// joins, and after each replication or release; not relayed.
	ProtocolHoldings protocol.ID = "/cairn/holdings/1.0.0"
)

// PinsFile in the home keeps the intents this node knows and the keys
// it fetched as replicas (the only ones it may release).
const PinsFile = "pins.json"

// Replication defaults.
const (
	DefaultGrace        = 30 * time.Second
	DefaultInterval     = 5 * time.Second
	DefaultReplicas     = 2
	DefaultBalance      = 0.1
	DefaultFetches      = 2
	DefaultFetchTimeout = 30 * time.Minute
)

// ReplicationConfig tunes the replicator (section "replication" of
// config.yaml).
type ReplicationConfig struct {
	// Disabled keeps this node from taking replicas; it still floods
	// intents and advertises what it holds. Default false. Nodes without
	// the "mirror" role never take replicas either.
	Disabled bool `yaml:"disabled"`
	// Grace is how long a holder may be gone before another node fetches
	// its replicas (repair). Default 30s.
	Grace Duration `yaml:"grace"`
	// Interval is how often holdings are advertised and placement is
	// re-checked. Default 5s.
	Interval Duration `yaml:"interval"`
	// Capacity is the free space in bytes this node offers for replicas,
	// its placement weight. Default: the free space of the store's file
	// system at each advertisement.
	Capacity int64 `yaml:"capacity"`
	// Replicas is the replication factor of a pin that gives none when
	// the policy gives no min either. Default 2.
	Replicas int `yaml:"replicas"`
	// Balance is the load bound ε of placement (see package replicate):
	// no node holds more than (1+ε) times its fair share while another
	// has room. Default 0.1; negative turns the bound off (pure
	// rendezvous hashing, each revision placed independently). Every node
	// must use the same value, or their placements differ.
	Balance float64 `yaml:"balance"`
	// Fetches is how many replications run at once. Default 2.
	Fetches int `yaml:"fetches"`
	// Sources bounds the holders one replication fetches from, nearest
	// first. Default 0: every holder (see p2p/fetch).
	Sources int `yaml:"sources"`
	// FetchTimeout bounds one replication attempt; a fetch that has not
	// finished by then is abandoned and retried at the next interval
	// (blocks already stored are kept). Default 30m.
	FetchTimeout Duration `yaml:"fetch_timeout"`
}

// WithDefaults fills zero fields.
func (c ReplicationConfig) WithDefaults() ReplicationConfig {
	if c.Grace == 0 {
		c.Grace = Duration(DefaultGrace)
	}
	if c.Interval == 0 {
		c.Interval = Duration(DefaultInterval)
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.Balance == 0 {
		c.Balance = DefaultBalance
	}
	if c.Fetches == 0 {
		c.Fetches = DefaultFetches
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = Duration(DefaultFetchTimeout)
	}
	return c
}

// Validate checks values defaults cannot fix.
func (c ReplicationConfig) Validate() error {
	switch {
	case c.Grace < 0:
		return errors.New("replication.grace: must not be negative")
	case c.Interval < 0:
		return errors.New("replication.interval: must not be negative")
	case c.Capacity < 0:
		return errors.New("replication.capacity: must not be negative")
	case c.Replicas < 0 || c.Replicas > replicate.MaxReplicas:
		return fmt.Errorf("replication.replicas %d: want 0-%d", c.Replicas, replicate.MaxReplicas)
	case c.Balance > 10:
		return fmt.Errorf("replication.balance %v: want at most 10", c.Balance)
	case c.Fetches < 0:
		return errors.New("replication.fetches: must not be negative")
	case c.Sources < 0:
		return errors.New("replication.sources: must not be negative")
	case c.FetchTimeout < 0:
		return errors.New("replication.fetch_timeout: must not be negative")
	}
	return nil
}

// Replicator keeps the replicas the cluster's pin intents ask for: it
// floods intents, advertises holdings, computes placement over the live
// members it sees, fetches what this node is chosen for, and releases
// surplus replicas it made. One per daemon (Daemon.Replication).
type Replicator struct {
	d   *Daemon
	cfg ReplicationConfig
	log *slog.Logger

	mu       sync.Mutex
	intents  map[string]replicate.Intent
	replicas map[string]bool // keys this node fetched as replicas
	peers    map[peer.ID]*peerView
	capacity int64 // as last advertised
	seq      uint64
	inflight map[string]bool
	retry    map[string]time.Time // key → not before

	running atomic.Bool
	sem     chan struct{}
	wake    chan struct{}
	adv     chan struct{}
}

// peerView is what this node knows of another.
type peerView struct {
	member   *sovereignty.Member
	holdings replicate.Holdings
	have     bool      // holdings received
	gone     time.Time // zero while connected
}

type pinsFile struct {
	Intents  []replicate.Intent `json:"intents"`
	Replicas []string           `json:"replicas"`
}

// Replication returns the daemon's replicator, creating it (protocol
// handlers included) on first use from the config's replication section.
// It fails when peer-to-peer is off.
func (d *Daemon) Replication() (*Replicator, error) {
	d.replMu.Lock()
	r := d.repl
	d.replMu.Unlock()
	if r != nil {
		return r, nil
	}
	return d.StartReplication(d.n.Config.Replication)
}

// StartReplication creates the daemon's replicator with cfg (overriding
// the config) and registers its protocols; Run starts its work. A
// second call returns the first replicator.
func (d *Daemon) StartReplication(cfg ReplicationConfig) (*Replicator, error) {
	if d.Host == nil {
		return nil, errors.New("replication: peer-to-peer is off (no certificate)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	r := &Replicator{
		d: d, cfg: cfg, log: d.log.With("service", "replicate"),
		intents: map[string]replicate.Intent{}, replicas: map[string]bool{},
		peers: map[peer.ID]*peerView{}, inflight: map[string]bool{}, retry: map[string]time.Time{},
		seq:  uint64(time.Now().UnixNano()),
		sem:  make(chan struct{}, cfg.Fetches),
		wake: make(chan struct{}, 1), adv: make(chan struct{}, 1),
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	d.replMu.Lock()
	defer d.replMu.Unlock()
	if d.repl != nil {
		return d.repl, nil
	}
	d.repl = r
	d.Host.Handle(ProtocolPins, r.handlePins)
	d.Host.Handle(ProtocolHoldings, r.handleHoldings)
	return r, nil
}

// RunReplication runs the daemon's replicator until ctx ends: the service
// Daemon.Run supervises.
func (d *Daemon) RunReplication(ctx context.Context) error {
	r, err := d.Replication()
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// Config is the replicator's configuration, defaults filled.
func (r *Replicator) Config() ReplicationConfig { return r.cfg }

func (r *Replicator) load() error {
	b, err := os.ReadFile(filepath.Join(r.d.n.Home, PinsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("replication: %w", err)
	}
	var f pinsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("replication: %s: %w", filepath.Join(r.d.n.Home, PinsFile), err)
	}
	for _, i := range f.Intents {
		if i.Validate() == nil {
			r.intents[i.Key()] = i
		}
	}
	for _, k := range f.Replicas {
		r.replicas[k] = true
	}
	return nil
}

// saveLocked writes PinsFile; r.mu is held.
func (r *Replicator) saveLocked() error {
	return savePins(r.d.n.Home, r.intentsLocked(), r.replicas)
}

func savePins(home string, intents []replicate.Intent, replicas map[string]bool) error {
	f := pinsFile{Intents: intents, Replicas: []string{}}
	if f.Intents == nil {
		f.Intents = []replicate.Intent{}
	}
	for k := range replicas {
		f.Replicas = append(f.Replicas, k)
	}
	sort.Strings(f.Replicas)
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := replaceFile(filepath.Join(home, PinsFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("replication: save %s: %w", PinsFile, err)
	}
	return nil
}

// RecordIntent stores an intent in a home without a running daemon (the
// daemon floods it when it runs). It keeps the newer of the two.
func RecordIntent(home string, i replicate.Intent) error {
	if err := i.Validate(); err != nil {
		return err
	}
	var f pinsFile
	if b, err := os.ReadFile(filepath.Join(home, PinsFile)); err == nil {
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("replication: %s: %w", PinsFile, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	replicas := map[string]bool{}
	for _, k := range f.Replicas {
		replicas[k] = true
	}
	out := f.Intents[:0]
	found := false
	for _, x := range f.Intents {
		if x.Key() == i.Key() {
			found = true
			if i.Newer(x) {
				x = i
			}
		}
		out = append(out, x)
	}
	if !found {
		out = append(out, i)
	}
	return savePins(home, out, replicas)
}

// LoadIntents reads the intents recorded in a home.
func LoadIntents(home string) ([]replicate.Intent, error) {
	b, err := os.ReadFile(filepath.Join(home, PinsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f pinsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("replication: %s: %w", PinsFile, err)
	}
	return f.Intents, nil
}

func (r *Replicator) intentsLocked() []replicate.Intent {
	out := make([]replicate.Intent, 0, len(r.intents))
	for _, i := range r.intents {
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b replicate.Intent) int {
		switch {
		case a.Key() < b.Key():
			return -1
		case a.Key() > b.Key():
			return 1
		}
		return 0
	})
	return out
}

// Intents returns every intent known, removals included, sorted by key.
func (r *Replicator) Intents() []replicate.Intent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.intentsLocked()
}

// NewIntent builds the intent of pinning kind repo@rev with a factor
// (0: policy or default), resolving rev to a commit when the store holds
// it, so that every node replicates exactly that commit.
func NewIntent(ctx context.Context, st *store.Store, by string, kind manifest.Kind, repo, rev string, replicas int) (replicate.Intent, error) {
	i := replicate.Intent{Kind: kind, Repo: repo, Revision: rev, Replicas: replicas, Version: uint64(time.Now().UnixNano()), By: by}
	if m, err := st.Resolve(ctx, kind, repo, rev); err == nil {
		i.Commit = m.Commit
	} else if !errors.Is(err, store.ErrRepoNotFound) && !errors.Is(err, store.ErrRevisionNotFound) {
		return i, err
	}
	if manifest.ValidateCommit(rev) == nil {
		i.Commit = rev
	}
	return i, i.Validate()
}

// Pin records a cluster-wide intent to keep kind repo@rev on replicas
// nodes (0: the policy's min, else the configured default) and sends it
// to every member.
func (r *Replicator) Pin(ctx context.Context, kind manifest.Kind, repo, rev string, replicas int) (replicate.Intent, error) {
	i, err := NewIntent(ctx, r.d.n.Store, r.d.n.ID.String(), kind, repo, rev, replicas)
	if err != nil {
		return i, fmt.Errorf("pin %s@%s: %w", repo, rev, err)
	}
	return i, r.record(ctx, i)
}

// Unpin records the removal of an intent; nodes release the replicas
// they made for it.
func (r *Replicator) Unpin(ctx context.Context, kind manifest.Kind, repo, rev string) error {
	i := replicate.Intent{Kind: kind, Repo: repo, Revision: rev, Version: uint64(time.Now().UnixNano()), Removed: true, By: r.d.n.ID.String()}
	if err := i.Validate(); err != nil {
		return err
	}
	return r.record(ctx, i)
}

func (r *Replicator) record(ctx context.Context, i replicate.Intent) error {
	r.mu.Lock()
	if old, ok := r.intents[i.Key()]; ok && !i.Newer(old) {
		i.Version = old.Version + 1
	}
	r.intents[i.Key()] = i
	err := r.saveLocked()
	r.mu.Unlock()
	r.floodIntents(ctx, []replicate.Intent{i}, "")
	r.poke()
	return err
}

func (r *Replicator) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Replicator) advertiseSoon() {
	select {
	case r.adv <- struct{}{}:
	default:
	}
}

// send pushes one message to p on proto.
func (r *Replicator) send(ctx context.Context, p peer.ID, proto protocol.ID, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := r.d.Host.Libp2p().NewStream(ctx, p, proto)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = s.Write(b)
	return err
}

// floodIntents sends is to every member but except.
func (r *Replicator) floodIntents(ctx context.Context, is []replicate.Intent, except peer.ID) {
	if len(is) == 0 {
		return
	}
	b, err := replicate.Encode(replicate.Message{Intents: is})
	if err != nil {
		r.log.Error("encode intents", "err", err)
		return
	}
	for _, pi := range r.d.Host.Peers() {
		if pi.ID == except {
			continue
		}
		go func() {
			if err := r.send(context.WithoutCancel(ctx), pi.ID, ProtocolPins, b); err != nil {
				r.log.Debug("push intents", "peer", pi.ID, "err", err)
			}
		}()
	}
}

func readMessage(s network.Stream) (replicate.Message, error) {
	s.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(io.LimitReader(s, replicate.MaxMessage+1))
	if err != nil {
		return replicate.Message{}, err
	}
	return replicate.Decode(b)
}

func (r *Replicator) handlePins(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	m, err := readMessage(s)
	if err != nil {
		r.log.Warn("intents from peer refused", "peer", from, "err", err)
		return
	}
	var changed []replicate.Intent
	r.mu.Lock()
	for _, i := range m.Intents {
		if old, ok := r.intents[i.Key()]; ok && !i.Newer(old) {
			continue
		}
		r.intents[i.Key()] = i
		changed = append(changed, i)
	}
	if len(changed) > 0 {
		if err := r.saveLocked(); err != nil {
			r.log.Error("save intents", "err", err)
		}
	}
	r.mu.Unlock()
	if len(changed) > 0 {
		r.log.Info("intents received", "peer", from, "changed", len(changed))
		r.floodIntents(context.Background(), changed, from)
		r.poke()
	}
}

func (r *Replicator) handleHoldings(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	m, err := readMessage(s)
	if err != nil || m.Holdings == nil {
		r.log.Warn("holdings from peer refused", "peer", from, "err", err)
		return
	}
	mem, ok := r.d.Host.Member(from)
	if !ok {
		return
	}
	r.mu.Lock()
	pv := r.peers[from]
	if pv == nil {
		pv = &peerView{}
		r.peers[from] = pv
	}
	fresh := !pv.have || m.Holdings.Seq > pv.holdings.Seq || !pv.gone.IsZero()
	if fresh {
		pv.member, pv.holdings, pv.have, pv.gone = mem, *m.Holdings, true, time.Time{}
	}
	r.mu.Unlock()
	if fresh {
		r.poke()
	}
}

// holdings builds this node's advertisement.
func (r *Replicator) holdings(ctx context.Context) (replicate.Holdings, error) {
	refs, err := r.d.n.Store.Refs(ctx, "", "")
	if err != nil {
		return replicate.Holdings{}, err
	}
	capacity := r.cfg.Capacity
	if capacity == 0 {
		capacity, _ = replicate.DiskFree(filepath.Join(r.d.n.Home, StoreDir))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	r.capacity = capacity
	h := replicate.Holdings{Seq: r.seq, Capacity: capacity, Mirror: r.mirror(), Held: []replicate.Held{}}
	for _, ref := range refs {
		if len(h.Held) == replicate.MaxHeld {
			break
		}
		k := replicate.Key(ref.Kind, ref.Repo, ref.Revision)
		h.Held = append(h.Held, replicate.Held{Kind: ref.Kind, Repo: ref.Repo, Revision: ref.Revision, Commit: ref.Commit, Replica: r.replicas[k]})
	}
	return h, nil
}

// mirror reports whether this node takes replicas.
func (r *Replicator) mirror() bool {
	self := r.d.Self()
	return !r.cfg.Disabled && self != nil && self.HasRole("mirror")
}

func (r *Replicator) advertise(ctx context.Context, to []peer.ID) {
	h, err := r.holdings(ctx)
	if err != nil {
		r.log.Warn("holdings", "err", err)
		return
	}
	b, err := replicate.Encode(replicate.Message{Holdings: &h})
	if err != nil {
		r.log.Error("encode holdings", "err", err)
		return
	}
	if to == nil {
		for _, pi := range r.d.Host.Peers() {
			to = append(to, pi.ID)
		}
	}
	for _, p := range to {
		go func() {
			if err := r.send(ctx, p, ProtocolHoldings, b); err != nil {
				r.log.Debug("push holdings", "peer", p, "err", err)
			}
		}()
	}
}

// Run floods intents and advertises holdings to members as they join,
// and every interval re-checks placement, fetching and releasing.
func (r *Replicator) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		<-ctx.Done() // already running (hooked twice)
		return nil
	}
	defer r.running.Store(false)
	events := r.d.Host.Subscribe(ctx)
	// Members connected before Run get everything now.
	r.advertise(ctx, nil)
	r.floodIntents(ctx, r.Intents(), "")
	t := time.NewTicker(time.Duration(r.cfg.Interval))
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if ev.Joined {
				r.advertise(ctx, []peer.ID{ev.Peer})
				if is := r.Intents(); len(is) > 0 {
					b, err := replicate.Encode(replicate.Message{Intents: is})
					if err == nil {
						go r.send(ctx, ev.Peer, ProtocolPins, b)
					}
				}
			} else {
				r.mu.Lock()
				if pv := r.peers[ev.Peer]; pv != nil && pv.gone.IsZero() {
					pv.gone = time.Now()
				}
				r.mu.Unlock()
			}
			continue
		case <-t.C:
			r.advertise(ctx, nil)
		case <-r.adv:
			r.advertise(ctx, nil)
		case <-r.wake:
		}
		r.reconcile(ctx, &wg)
	}
}

// plan is placement and holders of one key, as this node sees them.
type plan struct {
	key       string
	intent    replicate.Intent
	pinned    bool
	placement replicate.Placement
	target    replicate.Target
	eligible  map[string]bool   // candidate ID → may hold
	holders   map[string]holder // live or in grace
	lost      []string          // holders gone longer than the grace period
	members   map[string]*sovereignty.Member
}

type holder struct {
	commit  string
	replica bool
	gone    bool // gone, within the grace period
}

// snapshot is one consistent view: candidates and what they hold.
type snapshot struct {
	nodes   []replicate.Node
	members map[string]*sovereignty.Member
	held    map[string]map[string]holder // key → node → holder
	lost    map[string][]string          // key → expired holders
}

// snapshotLocked builds the view; r.mu is held. local are this node's
// refs.
func (r *Replicator) snapshotLocked(now time.Time, local []store.Ref) snapshot {
	s := snapshot{members: map[string]*sovereignty.Member{}, held: map[string]map[string]holder{}, lost: map[string][]string{}}
	self := r.d.Self()
	selfID := r.d.n.ID.String()
	if self != nil {
		s.members[selfID] = self
		if r.mirror() {
			s.nodes = append(s.nodes, replicate.Node{ID: selfID, Jurisdiction: self.Jurisdiction, Region: self.Region, Capacity: r.capacity})
		}
	}
	add := func(node, key string, h holder) {
		if s.held[key] == nil {
			s.held[key] = map[string]holder{}
		}
		s.held[key][node] = h
	}
	for _, ref := range local {
		k := replicate.Key(ref.Kind, ref.Repo, ref.Revision)
		add(selfID, k, holder{commit: ref.Commit, replica: r.replicas[k]})
	}
	grace := time.Duration(r.cfg.Grace)
	for p, pv := range r.peers {
		if m, ok := r.d.Host.Member(p); ok {
			pv.member, pv.gone = m, time.Time{}
		} else if pv.gone.IsZero() {
			pv.gone = now
		}
		if !pv.have || pv.member == nil {
			continue
		}
		id := p.String()
		expired := !pv.gone.IsZero() && now.Sub(pv.gone) >= grace
		if expired {
			for _, x := range pv.holdings.Held {
				s.lost[x.Key()] = append(s.lost[x.Key()], id)
			}
			continue
		}
		s.members[id] = pv.member
		if pv.holdings.Mirror && pv.member.HasRole("mirror") {
			s.nodes = append(s.nodes, replicate.Node{ID: id, Jurisdiction: pv.member.Jurisdiction, Region: pv.member.Region, Capacity: pv.holdings.Capacity})
		}
		for _, x := range pv.holdings.Held {
			add(id, x.Key(), holder{commit: x.Commit, replica: x.Replica, gone: !pv.gone.IsZero()})
		}
	}
	sort.Slice(s.nodes, func(a, b int) bool { return s.nodes[a].ID < s.nodes[b].ID })
	return s
}

// target is what the policy and the intent ask for repo.
func (r *Replicator) target(i replicate.Intent) replicate.Target {
	e := r.d.Engine
	pmin, pmax, in := e.Replicas(i.Repo)
	n := i.Replicas
	if n == 0 {
		n = pmin
	}
	if n == 0 {
		n = r.cfg.Replicas
	}
	n = max(n, pmin)
	if pmax > 0 {
		n = min(n, pmax)
	}
	return replicate.Target{Replicas: n, In: in, Covers: e.Covers}
}

// plansLocked computes the plan of every key in keys (every intent when
// nil); r.mu is held.
func (r *Replicator) plansLocked(s snapshot, intents []replicate.Intent) []plan {
	p := replicate.NewPlacer(s.nodes)
	if r.cfg.Balance > 0 {
		p.Balance = r.cfg.Balance
	}
	reqs := make([]replicate.Request, 0, len(intents))
	plans := make([]plan, 0, len(intents))
	for _, i := range intents {
		pl := plan{key: i.Key(), intent: i, pinned: !i.Removed, target: r.target(i), eligible: map[string]bool{}, holders: map[string]holder{}, members: s.members}
		elig := make([]bool, len(s.nodes))
		for k, n := range s.nodes {
			elig[k] = r.d.Engine.Decide(sovereignty.Hold, i.Repo, s.members[n.ID]).Allow
			pl.eligible[n.ID] = elig[k]
		}
		for id, h := range s.held[pl.key] {
			if i.Commit == "" || h.commit == i.Commit {
				pl.holders[id] = h
			}
		}
		pl.lost = s.lost[pl.key]
		if i.Removed {
			elig = make([]bool, len(s.nodes)) // place nowhere
		}
		reqs = append(reqs, replicate.Request{Key: pl.key, Target: pl.target, Eligible: elig})
		plans = append(plans, pl)
	}
	for k, placed := range p.PlaceAll(reqs) {
		plans[k].placement = placed
	}
	return plans
}

// reconcile acts on this node's part of every plan.
func (r *Replicator) reconcile(ctx context.Context, wg *sync.WaitGroup) {
	local, err := r.d.n.Store.Refs(ctx, "", "")
	if err != nil {
		r.log.Warn("replication: list refs", "err", err)
		return
	}
	now := time.Now()
	selfID := r.d.n.ID.String()
	r.mu.Lock()
	s := r.snapshotLocked(now, local)
	plans := r.plansLocked(s, r.intentsLocked())
	type job struct {
		pl   plan
		kind string
		why  string
	}
	var fetches, releases []job
	for _, pl := range plans {
		h, holds := pl.holders[selfID]
		chosen := slices.Contains(pl.placement.Chosen, selfID)
		if r.log.Enabled(ctx, slog.LevelDebug) {
			hs := make([]string, 0, len(pl.holders))
			for id := range pl.holders {
				hs = append(hs, id)
			}
			r.log.Debug("plan", "key", pl.key, "candidates", len(s.nodes), "chosen", pl.placement.Chosen, "holders", hs, "lost", pl.lost, "inflight", r.inflight[pl.key])
		}
		switch {
		case chosen && !holds && !r.inflight[pl.key] && !now.Before(r.retry[pl.key]):
			if other, ok := s.held[pl.key][selfID]; ok && !r.replicas[pl.key] {
				// This node's own ref of that name names another commit:
				// never overwrite what the operator put there.
				r.log.Warn("replication: local ref names another commit; not replacing it", "key", pl.key, "local", other.commit, "pinned", pl.intent.Commit)
				continue
			}
			kind, why := sovereignty.KindReplicate, fmt.Sprintf("placement chose this node (%d of %d)", slices.Index(pl.placement.Chosen, selfID)+1, len(pl.placement.Chosen))
			if len(pl.lost) > 0 {
				kind, why = sovereignty.KindRepair, fmt.Sprintf("holder %v gone longer than the grace period %s", pl.lost, time.Duration(r.cfg.Grace))
			}
			r.inflight[pl.key] = true
			fetches = append(fetches, job{pl, kind, why})
		case holds && h.replica && !chosen:
			switch {
			case !pl.pinned:
				releases = append(releases, job{pl, sovereignty.KindRelease, "intent removed (unpinned)"})
			case !pl.eligible[selfID] && s.members[selfID] != nil && !r.d.Engine.Decide(sovereignty.Hold, pl.intent.Repo, s.members[selfID]).Allow:
				releases = append(releases, job{pl, sovereignty.KindRelease, "policy no longer lets this node hold it"})
			case r.releasable(pl, selfID):
				releases = append(releases, job{pl, sovereignty.KindRelease, fmt.Sprintf("surplus: the %d chosen nodes hold it", len(pl.placement.Chosen))})
			}
		}
	}
	r.mu.Unlock()
	for _, j := range releases {
		r.release(ctx, j.pl.intent, j.why)
	}
	for _, j := range fetches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.fetch(ctx, j.pl.intent, j.kind, j.why)
		}()
	}
}

// releasable: every chosen node holds the key (live), and self is the
// lowest ranked of the surplus holders that hold it as a replica, so
// surplus goes one node at a time and never below the target.
func (r *Replicator) releasable(pl plan, self string) bool {
	for _, c := range pl.placement.Chosen {
		h, ok := pl.holders[c]
		if !ok || h.gone {
			return false
		}
	}
	if len(pl.placement.Chosen) < pl.placement.Wanted {
		// Fewer candidates than wanted: keep every replica.
		return false
	}
	rank := func(id string) int {
		if k := pl.placement.Rank(id); k >= 0 {
			return k
		}
		return len(pl.placement.Ranking) // not even eligible: lowest
	}
	lowest, lr := "", -1
	for id, h := range pl.holders {
		if !h.replica || h.gone || slices.Contains(pl.placement.Chosen, id) {
			continue
		}
		if k := rank(id); k > lr || (k == lr && id > lowest) {
			lowest, lr = id, k
		}
	}
	return lowest == self
}

// fetch pulls an intent's revision onto this node.
func (r *Replicator) fetch(ctx context.Context, i replicate.Intent, kind, why string) {
	defer func() {
		r.mu.Lock()
		delete(r.inflight, i.Key())
		r.mu.Unlock()
	}()
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-ctx.Done():
		return
	}
	start := time.Now()
	target := i.Revision
	if i.Commit != "" {
		target = i.Commit
	}
	st := r.d.n.Store
	pctx, cancel := context.WithTimeout(ctx, time.Duration(r.cfg.FetchTimeout))
	defer cancel()
	res, err := r.d.Pull(pctx, i.Kind, i.Repo, target, PullOptions{MaxSources: r.cfg.Sources})
	if err == nil && target != i.Revision {
		// Pulled by commit: name it as the intent does.
		if err = st.Commit(ctx, res.Manifest, i.Revision, nil); err == nil && !res.Local {
			err = st.DeleteRef(ctx, i.Kind, i.Repo, target)
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Info("replication: fetch failed, will retry", "key", i.Key(), "err", err)
		}
		r.mu.Lock()
		r.retry[i.Key()] = time.Now().Add(max(time.Duration(r.cfg.Interval), time.Second))
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	r.replicas[i.Key()] = true
	delete(r.retry, i.Key())
	if err := r.saveLocked(); err != nil {
		r.log.Error("replication: save", "err", err)
	}
	r.mu.Unlock()
	took := time.Since(start)
	r.d.auditAlways(sovereignty.Entry{Kind: kind, Subject: res.Manifest.Commit, Repo: i.Repo + "@" + i.Revision,
		Reason: fmt.Sprintf("%s; fetched %d bytes in %s", why, res.Stats.Bytes, took.Round(time.Millisecond))})
	r.log.Info("replicated", "kind", kind, "key", i.Key(), "commit", res.Manifest.Commit, "took", took, "why", why)
	r.advertiseSoon()
}

// release drops this node's replica of an intent.
func (r *Replicator) release(ctx context.Context, i replicate.Intent, why string) {
	if err := r.d.n.Store.DeleteRef(ctx, i.Kind, i.Repo, i.Revision); err != nil && !errors.Is(err, store.ErrRepoNotFound) && !errors.Is(err, store.ErrRevisionNotFound) {
		r.log.Warn("replication: release", "key", i.Key(), "err", err)
		return
	}
	r.mu.Lock()
	delete(r.replicas, i.Key())
	if err := r.saveLocked(); err != nil {
		r.log.Error("replication: save", "err", err)
	}
	r.mu.Unlock()
	r.d.auditAlways(sovereignty.Entry{Kind: sovereignty.KindRelease, Subject: i.Commit, Repo: i.Repo + "@" + i.Revision, Reason: why})
	r.log.Info("released", "key", i.Key(), "why", why)
	r.advertiseSoon()
}

// auditAlways records an entry that must not be deduplicated.
func (d *Daemon) auditAlways(e sovereignty.Entry) {
	if err := d.Audit.Append(e); err != nil {
		d.log.Error("audit", "err", err)
	}
}

// ReplicaHolder is one node holding a revision, in Status.
type ReplicaHolder struct {
	Peer         string `json:"peer"`
	Jurisdiction string `json:"jurisdiction"`
	Region       string `json:"region"`
	Commit       string `json:"commit"`
	Replica      bool   `json:"replica"`        // fetched by the replicator
	Gone         bool   `json:"gone,omitempty"` // disconnected, within the grace period
	Chosen       bool   `json:"chosen"`         // in the placement target
	Allowed      bool   `json:"allowed"`        // the policy lets it hold the repo
	Self         bool   `json:"self,omitempty"` // this node
}

// ReplicaStatus is where a revision's replicas are and whether the policy
// is met, as this node sees the cluster.
type ReplicaStatus struct {
	Kind     manifest.Kind     `json:"kind"`
	Repo     string            `json:"repo"`
	Revision string            `json:"revision"`
	Intent   *replicate.Intent `json:"intent,omitempty"` // nil: not pinned
	Wanted   int               `json:"wanted"`
	Quotas   map[string]int    `json:"quotas,omitempty"`
	Target   []string          `json:"target"`  // chosen nodes, placement order
	Holders  []ReplicaHolder   `json:"holders"` // nearest role first
	Lost     []string          `json:"lost,omitempty"`
	Eligible int               `json:"eligible"` // candidates the policy allows
	Met      bool              `json:"met"`
	Problems []string          `json:"problems,omitempty"`
}

// Status reports kind repo@rev. A revision nobody pinned is shown against
// the factor a pin would get.
func (r *Replicator) Status(ctx context.Context, kind manifest.Kind, repo, rev string) (ReplicaStatus, error) {
	local, err := r.d.n.Store.Refs(ctx, "", "")
	if err != nil {
		return ReplicaStatus{}, err
	}
	key := replicate.Key(kind, repo, rev)
	selfID := r.d.n.ID.String()
	r.mu.Lock()
	s := r.snapshotLocked(time.Now(), local)
	i, pinned := r.intents[key]
	if !pinned {
		i = replicate.Intent{Kind: kind, Repo: repo, Revision: rev, Version: 1}
	}
	// Placement over all intents (bounded loads depend on them), then
	// this key's plan.
	all := r.intentsLocked()
	if !pinned {
		all = append(all, i)
	}
	var pl plan
	for _, p := range r.plansLocked(s, all) {
		if p.key == key {
			pl = p
		}
	}
	r.mu.Unlock()
	st := ReplicaStatus{Kind: kind, Repo: repo, Revision: rev, Wanted: pl.placement.Wanted, Quotas: pl.target.In, Target: pl.placement.Chosen, Lost: pl.lost, Holders: []ReplicaHolder{}}
	if st.Target == nil {
		st.Target = []string{}
	}
	if pinned {
		st.Intent = &i
	}
	for _, ok := range pl.eligible {
		if ok {
			st.Eligible++
		}
	}
	live := map[string]int{}
	good := 0
	for id, h := range s.held[key] {
		m := s.members[id]
		rh := ReplicaHolder{Peer: id, Commit: h.commit, Replica: h.replica, Gone: h.gone, Chosen: slices.Contains(pl.placement.Chosen, id), Self: id == selfID}
		if m != nil {
			rh.Jurisdiction, rh.Region = m.Jurisdiction, m.Region
			rh.Allowed = r.d.Engine.Decide(sovereignty.Hold, repo, m).Allow
		}
		st.Holders = append(st.Holders, rh)
		if i.Commit != "" && h.commit != i.Commit {
			st.Problems = append(st.Problems, fmt.Sprintf("%s holds commit %s, not the pinned %s", id, h.commit, i.Commit))
			continue
		}
		if !rh.Allowed {
			st.Problems = append(st.Problems, fmt.Sprintf("%s (%s) holds it but the policy does not allow it there", id, rh.Jurisdiction))
			continue
		}
		if !h.gone {
			good++
			live[rh.Jurisdiction]++
		}
	}
	sort.Slice(st.Holders, func(a, b int) bool { return st.Holders[a].Peer < st.Holders[b].Peer })
	if good < st.Wanted {
		st.Problems = append(st.Problems, fmt.Sprintf("%d of %d replicas held by live allowed nodes", good, st.Wanted))
	}
	qkeys := make([]string, 0, len(pl.target.In))
	for k := range pl.target.In {
		qkeys = append(qkeys, k)
	}
	sort.Strings(qkeys)
	for _, k := range qkeys {
		n := 0
		for j, c := range live {
			if r.d.Engine.Covers(k, j) {
				n += c
			}
		}
		if n < pl.target.In[k] {
			st.Problems = append(st.Problems, fmt.Sprintf("%d of %d replicas in %s", n, pl.target.In[k], k))
		}
	}
	if st.Eligible < st.Wanted {
		st.Problems = append(st.Problems, fmt.Sprintf("only %d eligible mirror nodes for %d replicas", st.Eligible, st.Wanted))
	}
	st.Met = len(st.Problems) == 0
	return st, nil
}
