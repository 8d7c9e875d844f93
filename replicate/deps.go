package replicate

import (
	"context"
	"log/slog"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// Resolver names the commit a revision points at: *store.Store.
type Resolver interface {
	Resolve(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error)
}

// Store is what the replicator reads and changes in the node's store:
// *store.Store.
type Store interface {
	Resolver
	Refs(ctx context.Context, kind manifest.Kind, repo string) ([]store.Ref, error)
	Commit(ctx context.Context, m *manifest.Manifest, revision string, blks []cid.Cid) error
	DeleteRef(ctx context.Context, kind manifest.Kind, repo, revision string) error
}

// Members is the node's view of the cluster: *p2p.Host.
type Members interface {
	// Peers lists the connected members.
	Peers() []p2p.PeerInfo
	// Member returns a connected member's certificate attributes.
	Member(p peer.ID) (*sovereignty.Member, bool)
	// Subscribe reports members joining and leaving until ctx ends.
	Subscribe(ctx context.Context) <-chan p2p.MemberEvent
}

// Policy answers residency questions: *sovereignty.Engine.
type Policy interface {
	Decide(a sovereignty.Action, repo string, m *sovereignty.Member) sovereignty.Decision
	Replicas(repo string) (min, max int, in map[string]int)
	Covers(key, code string) bool
}

// Puller makes a revision present in the local store, from the store or
// from the members that hold it and may send it; the node's Pull.
type Puller interface {
	Pull(ctx context.Context, kind manifest.Kind, repo, rev string, maxSources int) (Pulled, error)
}

// Pulled is what one pull brought.
type Pulled struct {
	Manifest *manifest.Manifest
	// Local is true when the store held the revision already.
	Local bool
	// Bytes is how many bytes were fetched from peers.
	Bytes int64
}

// Deps are the replicator's collaborators. Store, Members, Policy,
// Puller, Audit and StateFile are required.
type Deps struct {
	// Self is this node's own membership (its certificate); nil when it
	// does not verify, and then the node takes no replicas.
	Self *sovereignty.Member
	// Store holds the revisions.
	Store Store
	// Members are the connected members.
	Members Members
	// Policy is the residency policy in force.
	Policy Policy
	// Puller fetches a revision chosen for this node.
	Puller Puller
	// Audit records every replication, repair and release.
	Audit sovereignty.Auditor
	// StateFile is where the intents known and the replicas made are kept
	// across restarts (PinsFile in the node's home).
	StateFile string
	// DiskFree returns the free space offered when Config.Capacity is 0.
	// Nil: capacity 0 (unknown).
	DiskFree func() (int64, error)
	// Gossip, when set, carries intents and holdings (Service.ReceiveIntent
	// and ReceiveHoldings take what it hears); nil: pushes to connected
	// members over ProtocolPins and ProtocolHoldings.
	Gossip Gossip
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}
