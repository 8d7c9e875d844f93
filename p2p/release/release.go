package release

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/rpc"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// ProtocolID is how a signed release travels with a revision between
// members. Request: "KIND REPO COMMIT"; answer: the signed release, or
// nothing.
const ProtocolID = protocol.ID("/cairn/release/1.0.0")

// maxQuery bounds a release request: kind, repo and commit.
const maxQuery = 512

// Members is the node's membership view: *p2p.Host.
type Members interface {
	Member(p peer.ID) (*sovereignty.Member, bool)
}

// Decider answers residency questions: *sovereignty.Engine.
type Decider interface {
	Decide(a sovereignty.Action, repo string, m *sovereignty.Member) sovereignty.Decision
}

// Store holds the quarantines and their releases: *store.Store.
type Store interface {
	QuarantineOf(ctx context.Context, kind manifest.Kind, repo, commit string) (store.Quarantine, bool, error)
}

// Deps are the service's collaborators; all but Logger are required.
type Deps struct {
	Members Members
	Policy  Decider
	Store   Store
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service answers and asks release requests.
type Service struct {
	h    host.Host
	deps Deps
	log  *slog.Logger
}

// New returns the service on h and registers its handler.
func New(h host.Host, deps Deps) *Service {
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Service{h: h, deps: deps, log: log}
	h.SetStreamHandler(ProtocolID, s.handle)
	return s
}

// handle answers a member's release request for a revision this node
// holds released, when the policy lets that member receive the repo.
func (s *Service) handle(st network.Stream) {
	defer st.Close()
	m, ok := s.deps.Members.Member(st.Conn().RemotePeer())
	if !ok {
		st.Reset()
		return
	}
	req, err := rpc.Read(st, maxQuery)
	if err != nil {
		st.Reset()
		return
	}
	f := strings.Fields(string(req))
	if len(f) != 3 {
		st.Reset()
		return
	}
	kind, repo, commit := manifest.Kind(f[0]), f[1], f[2]
	var answer []byte
	if s.deps.Policy.Decide(sovereignty.Receive, repo, m).Allow {
		if q, ok, err := s.deps.Store.QuarantineOf(context.Background(), kind, repo, commit); err == nil && ok && !q.InForce() {
			answer = q.Release
		}
	}
	rpc.Reply(st, answer)
}

// Ask asks sources, in turn, for the release of m's revision; nil when
// none has one.
func (s *Service) Ask(ctx context.Context, m *manifest.Manifest, sources []peer.ID) []byte {
	req := []byte(fmt.Sprintf("%s %s %s", m.Type, m.Repo, m.Commit))
	for _, p := range sources {
		b, err := rpc.Request(ctx, s.h, p, ProtocolID, req, sovereignty.MaxReleaseSize)
		if err != nil {
			s.log.Debug("release request", "peer", p, "repo", m.Repo, "err", err)
			continue
		}
		if len(b) > 0 {
			return b
		}
	}
	return nil
}
