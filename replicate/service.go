package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/rpc"
	"github.com/cairnhub/cairn/sovereignty"
)

// Replication protocols. Both are pushes over membership-gated streams:
// only verified members may send, and each message is one Message read
// to EOF.
const (
	// ProtocolPins carries pin intents. A node pushes every intent it
	// knows to a member that joins, and each new or changed intent to every
	// member; a receiver keeps an intent only when it is newer than the
	// one it holds (Intent.Newer) and pushes what changed on, so intents
	// flood without consensus.
	ProtocolPins protocol.ID = "/cairn/pins/1.0.0"
	// ProtocolHoldings carries a node's holdings: free capacity and the
	// revisions it holds. Sent to every member each interval, when a member
	// joins, and after each replication or release; not relayed.
	ProtocolHoldings protocol.ID = "/cairn/holdings/1.0.0"
)

// minRetry is the least time between two attempts at one replication.
const minRetry = time.Second

// Service keeps the replicas the cluster's pin intents ask for: it floods
// intents, advertises holdings, computes placement over the live members
// it sees, fetches what this node is chosen for, and releases surplus
// replicas it made. One per node.
type Service struct {
	h    host.Host
	deps Deps
	cfg  Config
	log  *slog.Logger

	mu       sync.Mutex
	intents  map[string]Intent
	replicas map[string]bool // keys this node fetched as replicas
	peers    map[peer.ID]*peerView
	capacity int64 // as last advertised
	seq      uint64
	inflight map[string]bool
	retry    map[string]time.Time // key → not before

	published published // last holdings gossiped (Run's goroutine only)

	running atomic.Bool
	passes  atomic.Uint64
	sem     chan struct{}
	wake    chan struct{}
	adv     chan struct{}
}

// peerView is what this node knows of another.
type peerView struct {
	member   *sovereignty.Member
	holdings Holdings
	have     bool      // holdings received
	gone     time.Time // zero while connected (or heard over gossip lately)
	heard    time.Time // last holdings over gossip
}

// New builds the replicator of the node whose (membership-gated) libp2p
// host is h, loads its state file and registers ProtocolPins and
// ProtocolHoldings on h. Run starts its work.
func New(h host.Host, deps Deps, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case h == nil:
		return nil, errors.New("replication: no host (peer-to-peer is off)")
	case deps.Store == nil, deps.Members == nil, deps.Policy == nil, deps.Puller == nil, deps.Audit == nil:
		return nil, errors.New("replication: Deps.Store, Members, Policy, Puller and Audit are required")
	case deps.StateFile == "":
		return nil, errors.New("replication: Deps.StateFile: required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	cfg = cfg.WithDefaults()
	r := &Service{
		h: h, deps: deps, cfg: cfg, log: deps.Logger.With("service", "replicate"),
		intents: map[string]Intent{}, replicas: map[string]bool{},
		peers: map[peer.ID]*peerView{}, inflight: map[string]bool{}, retry: map[string]time.Time{},
		seq:  uint64(time.Now().UnixNano()),
		sem:  make(chan struct{}, cfg.Fetches),
		wake: make(chan struct{}, 1), adv: make(chan struct{}, 1),
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	if deps.Gossip == nil {
		h.SetStreamHandler(ProtocolPins, r.handlePins)
		h.SetStreamHandler(ProtocolHoldings, r.handleHoldings)
	}
	return r, nil
}

// Config is the replicator's configuration, defaults filled.
func (r *Service) Config() Config { return r.cfg }

// Passes counts the placement passes completed since New: a test waits
// on it for the replicator to have looked at a state, instead of sleeping.
func (r *Service) Passes() uint64 { return r.passes.Load() }

// Intents returns every intent known, removals included, sorted by key.
func (r *Service) Intents() []Intent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.intentsLocked()
}

// Pin records a cluster-wide intent to keep kind repo@rev on replicas
// nodes (0: the policy's min, else the configured default) and sends it
// to every member.
func (r *Service) Pin(ctx context.Context, kind manifest.Kind, repo, rev string, replicas int) (Intent, error) {
	i, err := NewIntent(ctx, r.deps.Store, r.h.ID().String(), kind, repo, rev, replicas)
	if err != nil {
		return i, fmt.Errorf("pin %s@%s: %w", repo, rev, err)
	}
	return i, r.record(ctx, i)
}

// Unpin records the removal of an intent; nodes release the replicas
// they made for it.
func (r *Service) Unpin(ctx context.Context, kind manifest.Kind, repo, rev string) error {
	i := Intent{Kind: kind, Repo: repo, Revision: rev, Version: uint64(time.Now().UnixNano()), Removed: true, By: r.h.ID().String()}
	if err := i.Validate(); err != nil {
		return err
	}
	return r.record(ctx, i)
}

func (r *Service) record(ctx context.Context, i Intent) error {
	r.mu.Lock()
	if old, ok := r.intents[i.Key()]; ok && !i.Newer(old) {
		i.Version = old.Version + 1
	}
	r.intents[i.Key()] = i
	err := r.saveLocked()
	r.mu.Unlock()
	r.floodIntents(ctx, []Intent{i}, "")
	r.poke()
	return err
}

func (r *Service) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Service) advertiseSoon() {
	select {
	case r.adv <- struct{}{}:
	default:
	}
}

// sendAll pushes one message on proto to each of to, in the background.
func (r *Service) sendAll(ctx context.Context, to []peer.ID, proto protocol.ID, b []byte) {
	for _, p := range to {
		go func() {
			if err := rpc.Send(ctx, r.h, p, proto, b); err != nil {
				r.log.Debug("push", "protocol", proto, "peer", p, "err", err)
			}
		}()
	}
}

// members lists the connected members but except.
func (r *Service) members(except peer.ID) []peer.ID {
	var out []peer.ID
	for _, pi := range r.deps.Members.Peers() {
		if pi.ID != except {
			out = append(out, pi.ID)
		}
	}
	return out
}

// floodIntents sends is to every member but except.
func (r *Service) floodIntents(ctx context.Context, is []Intent, except peer.ID) {
	if len(is) == 0 {
		return
	}
	if r.deps.Gossip != nil {
		for _, i := range is {
			if err := r.deps.Gossip.PublishIntent(context.WithoutCancel(ctx), i); err != nil {
				r.log.Warn("publish intent", "key", i.Key(), "err", err)
			}
		}
		return
	}
	b, err := Encode(Message{Intents: is})
	if err != nil {
		r.log.Error("encode intents", "err", err)
		return
	}
	r.sendAll(context.WithoutCancel(ctx), r.members(except), ProtocolPins, b)
}

func readMessage(st network.Stream) (Message, error) {
	b, err := rpc.Read(st, MaxMessage)
	if err != nil {
		return Message{}, err
	}
	return Decode(b)
}

func (r *Service) handlePins(st network.Stream) {
	defer st.Close()
	from := st.Conn().RemotePeer()
	m, err := readMessage(st)
	if err != nil {
		r.log.Warn("intents from peer refused", "peer", from, "err", err)
		return
	}
	var changed []Intent
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

func (r *Service) handleHoldings(st network.Stream) {
	defer st.Close()
	from := st.Conn().RemotePeer()
	m, err := readMessage(st)
	if err != nil || m.Holdings == nil {
		r.log.Warn("holdings from peer refused", "peer", from, "err", err)
		return
	}
	mem, ok := r.deps.Members.Member(from)
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
func (r *Service) holdings(ctx context.Context) (Holdings, error) {
	refs, err := r.deps.Store.Refs(ctx, "", "")
	if err != nil {
		return Holdings{}, err
	}
	capacity := r.cfg.Capacity
	if capacity == 0 && r.deps.DiskFree != nil {
		capacity, _ = r.deps.DiskFree()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	r.capacity = capacity
	h := Holdings{Seq: r.seq, Capacity: capacity, Mirror: r.mirror(), Held: []Held{}}
	for _, ref := range refs {
		if len(h.Held) == MaxHeld {
			break
		}
		k := Key(ref.Kind, ref.Repo, ref.Revision)
		h.Held = append(h.Held, Held{Kind: ref.Kind, Repo: ref.Repo, Revision: ref.Revision, Commit: ref.Commit, Replica: r.replicas[k]})
	}
	return h, nil
}

// mirror reports whether this node takes replicas.
func (r *Service) mirror() bool {
	return !r.cfg.Disabled && r.deps.Self != nil && r.deps.Self.HasRole("mirror")
}

// advertise sends this node's holdings to to (nil: every member).
func (r *Service) advertise(ctx context.Context, to []peer.ID) {
	h, err := r.holdings(ctx)
	if err != nil {
		r.log.Warn("holdings", "err", err)
		return
	}
	if r.deps.Gossip != nil {
		if !r.published.due(h, time.Now(), refreshIntervals*r.cfg.Interval) {
			return
		}
		if err := r.deps.Gossip.PublishHoldings(ctx, h); err != nil {
			r.log.Warn("publish holdings", "err", err)
		}
		return
	}
	b, err := Encode(Message{Holdings: &h})
	if err != nil {
		r.log.Error("encode holdings", "err", err)
		return
	}
	if to == nil {
		to = r.members("")
	}
	r.sendAll(ctx, to, ProtocolHoldings, b)
}

// Run floods intents and advertises holdings to members as they join,
// and every interval re-checks placement, fetching and releasing. A
// second Run while one runs waits for ctx and does nothing.
func (r *Service) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		<-ctx.Done()
		return nil
	}
	defer r.running.Store(false)
	events := r.deps.Members.Subscribe(ctx)
	// Members connected before Run get everything now (over gossip, late
	// joiners catch up: only this node's holdings go out).
	r.advertise(ctx, nil)
	if r.deps.Gossip == nil {
		r.floodIntents(ctx, r.Intents(), "")
	}
	t := time.NewTicker(r.cfg.Interval)
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
			r.memberEvent(ctx, ev.Peer, ev.Joined)
			continue
		case <-t.C:
			r.advertise(ctx, nil)
		case <-r.adv:
			r.advertise(ctx, nil)
		case <-r.wake:
		}
		r.reconcile(ctx, &wg)
		r.passes.Add(1)
	}
}

// memberEvent greets a member that joined with holdings and intents, and
// starts the grace period of one that left.
func (r *Service) memberEvent(ctx context.Context, p peer.ID, joined bool) {
	if joined && r.deps.Gossip != nil {
		return // gossip's catch-up greets it
	}
	if joined {
		r.advertise(ctx, []peer.ID{p})
		if is := r.Intents(); len(is) > 0 {
			if b, err := Encode(Message{Intents: is}); err == nil {
				r.sendAll(ctx, []peer.ID{p}, ProtocolPins, b)
			}
		}
		return
	}
	r.mu.Lock()
	if pv := r.peers[p]; pv != nil && pv.gone.IsZero() {
		pv.gone = time.Now()
	}
	r.mu.Unlock()
}
