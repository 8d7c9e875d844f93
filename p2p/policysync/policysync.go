package policysync

import (
	"context"
	"errors"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/rpc"
	"github.com/cairnhub/cairn/sovereignty"
)

// ProtocolID carries one signed residency policy, pushed by its holder.
const ProtocolID protocol.ID = "/cairn/policy/1.0.0"

// MaxPolicy bounds a signed policy on the wire; a longer one is dropped
// unread.
const MaxPolicy = 1 << 20

// Policy is the policy in force on this node.
type Policy interface {
	// Set verifies a signed policy and puts it in force when it is newer
	// than the one held (sovereignty.ErrStale when not); on error nothing
	// changes.
	Set(signed []byte) error
	// Signed returns the signed policy in force, nil when there is none.
	Signed() []byte
}

// Members is the node's view of the cluster: *p2p.Host.
type Members interface {
	Peers() []p2p.PeerInfo
	Subscribe(ctx context.Context) <-chan p2p.MemberEvent
}

// Deps are the service's collaborators; Members and Policy are required.
type Deps struct {
	Members Members
	Policy  Policy
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service floods the signed policy: it pushes it to each member that
// joins and, on Broadcast, to every member; it applies what members push.
type Service struct {
	h    host.Host
	deps Deps
	log  *slog.Logger
}

// New registers ProtocolID on h (a membership-gated host, so only members
// may push) and returns the service; Run pushes to members as they join.
func New(h host.Host, deps Deps) (*Service, error) {
	if h == nil || deps.Members == nil || deps.Policy == nil {
		return nil, errors.New("policysync: host, Deps.Members and Deps.Policy are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	s := &Service{h: h, deps: deps, log: deps.Logger.With("service", "policysync")}
	h.SetStreamHandler(ProtocolID, s.handle)
	return s, nil
}

// Run pushes the policy to each member that joins, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	for ev := range s.deps.Members.Subscribe(ctx) {
		if ev.Joined {
			go s.push(ctx, ev.Peer)
		}
	}
	return nil
}

// Broadcast pushes the policy in force to every connected member, in the
// background: after a local change.
func (s *Service) Broadcast(ctx context.Context) {
	for _, pi := range s.deps.Members.Peers() {
		go s.push(context.WithoutCancel(ctx), pi.ID)
	}
}

func (s *Service) push(ctx context.Context, p peer.ID) {
	signed := s.deps.Policy.Signed()
	if signed == nil {
		return
	}
	if err := rpc.Send(ctx, s.h, p, ProtocolID, signed); err != nil {
		s.log.Debug("push policy", "peer", p, "err", err)
	}
}

func (s *Service) handle(st network.Stream) {
	defer st.Close()
	from := st.Conn().RemotePeer()
	b, err := rpc.Read(st, MaxPolicy)
	if err != nil {
		s.log.Debug("policy from peer unread", "peer", from, "err", err)
		return
	}
	if err := s.deps.Policy.Set(b); err != nil && !errors.Is(err, sovereignty.ErrStale) {
		s.log.Warn("policy from peer refused", "peer", from, "err", err)
	}
}
