package auditsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/rpc"
	"github.com/cairnhub/cairn/sovereignty"
)

// AskProtocol answers a member's question "what is the latest checkpoint
// you hold of node X's audit log?" (request: X's peer ID; answer: the
// encoded checkpoint, empty when none is held).
const AskProtocol = protocol.ID("/cairn/audit-checkpoint/1.0.0")

// PushProtocol carries one checkpoint a member signed of its own log, for
// the receiver to keep (no answer).
const PushProtocol = protocol.ID("/cairn/audit-checkpoint-push/1.0.0")

// Timing.
const (
	// Interval is how often the node's own log is checkpointed.
	Interval = time.Minute
	// repush: an unchanged checkpoint is pushed again every so many
	// intervals, for members that joined since.
	repush = 10
	// askWait bounds Ask.
	askWait = 10 * time.Second
	// maxAsk bounds an ask's request (a peer ID).
	maxAsk = 128
)

// Log is the node's own audit log: *sovereignty.Audit.
type Log interface {
	Checkpoint() (sovereignty.Checkpoint, error)
	Latest() (sovereignty.Checkpoint, bool)
	Append(e sovereignty.Entry) error
}

// Members is the node's view of the cluster: *p2p.Host.
type Members interface {
	Peers() []p2p.PeerInfo
	Member(p peer.ID) (*sovereignty.Member, bool)
}

// Config is a Service's; Log and Self are required.
type Config struct {
	Log  Log
	Self peer.ID // whose log Log is
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service signs, pushes, keeps and answers audit checkpoints.
type Service struct {
	cfg  Config
	log  *slog.Logger
	book *sovereignty.CheckpointBook

	mu      sync.Mutex
	pubs    []func(sovereignty.Checkpoint)
	h       host.Host // nil until Serve
	members Members
}

// New returns a Service with an empty book; Serve connects it to members.
func New(cfg Config) *Service {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{cfg: cfg, log: log, book: sovereignty.NewCheckpointBook(0)}
}

// Serve registers the handlers on h (the membership-gated host) and
// pushes each checkpoint Run signs to m's peers until ctx ends.
func (s *Service) Serve(ctx context.Context, h host.Host, m Members) {
	s.mu.Lock()
	s.h, s.members = h, m
	s.mu.Unlock()
	s.OnCheckpoint(func(cp sovereignty.Checkpoint) { s.Push(ctx, cp) })
	h.SetStreamHandler(PushProtocol, s.handlePush)
	h.SetStreamHandler(AskProtocol, s.handleAsk)
}

// Keep keeps a checkpoint a member published (a push, or an answer to
// Ask) once its key is shown to be its node's: a peer ID is derived from
// its key.
func (s *Service) Keep(cp sovereignty.Checkpoint) error {
	id, err := peer.Decode(cp.Node)
	if err != nil {
		return fmt.Errorf("checkpoint: node %q: %w", cp.Node, err)
	}
	pub, err := crypto.UnmarshalEd25519PublicKey(cp.Key)
	if err != nil {
		return fmt.Errorf("checkpoint of %s: key: %w", cp.Node, err)
	}
	if !id.MatchesPublicKey(pub) {
		return fmt.Errorf("checkpoint of %s: signed by a key that is not the node's: %w", cp.Node, sovereignty.ErrBadSignature)
	}
	return s.book.Keep(cp)
}

// Held returns the latest checkpoint held of node's log (its own log's
// latest for this node).
func (s *Service) Held(node string) (sovereignty.Checkpoint, bool) {
	if node == s.cfg.Self.String() {
		return s.cfg.Log.Latest()
	}
	return s.book.Get(node)
}

// OnCheckpoint adds a hook called with each checkpoint Run signs, to
// publish it to members.
func (s *Service) OnCheckpoint(f func(sovereignty.Checkpoint)) {
	s.mu.Lock()
	s.pubs = append(s.pubs, f)
	s.mu.Unlock()
}

// Run signs a checkpoint of the log every Interval and hands it to the
// hooks (again every ten intervals when unchanged), until ctx ends; the
// final one is the log's Close.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(Interval)
	defer t.Stop()
	var last sovereignty.Checkpoint
	for tick := 0; ; tick++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cp, err := s.cfg.Log.Checkpoint()
		if err != nil {
			s.log.Warn("audit checkpoint", "err", err)
			continue
		}
		if cp.Seq == last.Seq && cp.Head == last.Head && tick%repush != 0 {
			continue
		}
		last = cp
		s.mu.Lock()
		pubs := append([]func(sovereignty.Checkpoint){}, s.pubs...)
		s.mu.Unlock()
		for _, f := range pubs {
			f(cp)
		}
	}
}

// Push sends cp to every connected member, in the background (Run does
// it every Interval once Serve is called): each keeps the latest of
// every node.
func (s *Service) Push(ctx context.Context, cp sovereignty.Checkpoint) {
	s.mu.Lock()
	h, m := s.h, s.members
	s.mu.Unlock()
	if h == nil {
		return // not serving: no member to push to
	}
	msg := cp.Marshal()
	for _, p := range m.Peers() {
		go func() {
			if err := rpc.Send(ctx, h, p.ID, PushProtocol, msg); err != nil {
				s.log.Debug("push audit checkpoint", "peer", p.ID, "err", err)
			}
		}()
	}
}

func (s *Service) handlePush(st network.Stream) {
	defer st.Close()
	from := st.Conn().RemotePeer()
	if _, ok := s.members.Member(from); !ok {
		_ = st.Reset()
		return
	}
	b, err := rpc.Read(st, sovereignty.MaxCheckpointSize)
	if err != nil {
		_ = st.Reset()
		return
	}
	cp, err := sovereignty.ParseCheckpoint(b)
	if err != nil || cp.Node != from.String() {
		s.log.Debug("audit checkpoint refused", "peer", from, "err", err)
		return
	}
	if err := s.Keep(*cp); err != nil && !errors.Is(err, sovereignty.ErrStale) {
		// Evidence of a rewritten log is worth a line of our own.
		s.log.Warn("audit checkpoint of a member", "peer", from, "err", err)
		if errors.Is(err, sovereignty.ErrAuditBroken) {
			e := sovereignty.Entry{Kind: "checkpoint-conflict", Subject: "audit checkpoint", Peer: from.String(), Reason: err.Error()}
			if err := s.cfg.Log.Append(e); err != nil {
				s.log.Error("audit", "err", err)
			}
		}
	}
}

func (s *Service) handleAsk(st network.Stream) {
	defer st.Close()
	if _, ok := s.members.Member(st.Conn().RemotePeer()); !ok {
		_ = st.Reset()
		return
	}
	req, err := rpc.Read(st, maxAsk)
	if err != nil {
		_ = st.Reset()
		return
	}
	var out []byte
	if cp, ok := s.Held(string(req)); ok {
		out = cp.Marshal()
	}
	_ = rpc.Reply(st, out)
}

// Ask asks every connected member for the latest checkpoint it holds of
// this node's log; members holding none are left out.
func (s *Service) Ask(ctx context.Context) ([]sovereignty.Checkpoint, error) {
	s.mu.Lock()
	h, m := s.h, s.members
	s.mu.Unlock()
	if h == nil {
		return nil, errors.New("peer-to-peer is off: no member to ask")
	}
	ctx, cancel := context.WithTimeout(ctx, askWait)
	defer cancel()
	self := s.cfg.Self.String()
	peers := m.Peers()
	got := make([]*sovereignty.Checkpoint, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := rpc.Request(ctx, h, p.ID, AskProtocol, []byte(self), sovereignty.MaxCheckpointSize)
			if err != nil || len(b) == 0 {
				return
			}
			if cp, err := sovereignty.ParseCheckpoint(b); err == nil && cp.Node == self && cp.Verify() == nil {
				got[i] = cp
			}
		}()
	}
	wg.Wait()
	var out []sovereignty.Checkpoint
	for _, cp := range got {
		if cp != nil {
			out = append(out, *cp)
		}
	}
	return out, nil
}
