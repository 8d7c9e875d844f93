package pull

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/catalog"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// Catalog is what the answering side of pulls needs: the manifests of
// the store, and of the swarm's revisions (as a partial holder), for
// members the policy lets receive the repo.
type Catalog struct {
	Store interface {
		Resolve(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error)
	}
	Members interface {
		Member(p peer.ID) (*sovereignty.Member, bool)
	}
	Policy Policy
	Swarm  *Swarm
	// Check refuses a stored manifest the node must not answer with
	// (provenance, quarantine, model signature).
	Check func(ctx context.Context, m *manifest.Manifest) error
	// Audit records a member refused by the policy.
	Audit func(sovereignty.Entry)
}

// ServeCatalog answers members' manifest queries on h (catalog.ProtocolID).
func ServeCatalog(h host.Host, c Catalog) error {
	res := resolveFunc(func(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error) {
		m, err := c.Store.Resolve(ctx, kind, repo, rev)
		if err != nil {
			return nil, err
		}
		if err := c.Check(ctx, m); err != nil {
			return nil, err
		}
		return m, nil
	})
	hd, err := catalog.NewHandler(catalog.HandlerConfig{
		Resolver: res,
		Partials: c.Swarm.Fetching(),
		Gate: func(p peer.ID, repo string) error {
			m, ok := c.Members.Member(p)
			if !ok {
				return errors.New("not a verified member")
			}
			dec := c.Policy.Decide(sovereignty.Receive, repo, m)
			if !dec.Allow {
				c.Audit(sovereignty.DenyEntry(sovereignty.Receive, repo, m, dec))
				return fmt.Errorf("policy: %s", dec.Reason)
			}
			return nil
		},
		NotFound: func(err error) bool {
			return errors.Is(err, store.ErrRepoNotFound) || errors.Is(err, store.ErrRevisionNotFound) || errors.Is(err, store.ErrNotFound)
		},
	})
	if err != nil {
		return err
	}
	h.SetStreamHandler(catalog.ProtocolID, hd)
	return nil
}

// resolveFunc adapts a function to catalog.Resolver.
type resolveFunc func(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error)

func (f resolveFunc) Resolve(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error) {
	return f(ctx, kind, repo, rev)
}
