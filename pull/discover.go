package pull

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/gossip"
	"github.com/cairnhub/cairn/replicate"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// Discovery beyond neighbours: the holders of a revision (full or
// partial) are known from the gossiped holdings, and, as the fallback,
// from the DHT's provider records of the revision's key, which holders
// announce. They are dialled on demand, when the policy lets them hold the
// repo.

// Bounds of discovery.
const (
	// maxDial is how many not-connected holders one pull dials.
	maxDial = 8
	// dialTimeout bounds finding and dialling one holder.
	dialTimeout = 10 * time.Second
	// catchUpWait is how long a pull that knows no holder waits for the
	// control plane's catch-up (a short-lived host just connected).
	catchUpWait = 3 * time.Second
)

// RevisionKey is the DHT key holders of kind repo@rev announce: a raw CID
// of the sha256 of the replication key, so a node finds holders without
// knowing the revision's content.
func RevisionKey(kind manifest.Kind, repo, rev string) cid.Cid {
	sum := sha256.Sum256([]byte("cairn-revision\x00" + replicate.Key(kind, repo, rev)))
	h, _ := mh.Encode(sum[:], mh.SHA2_256) // cannot fail for sha2-256
	return cid.NewCidV1(cid.Raw, h)
}

// Roots are what a node announces to the DHT (p2p.Deps.Roots): one CID
// per revision's content, and its RevisionKey.
func Roots(ctx context.Context, st interface {
	Refs(ctx context.Context, kind manifest.Kind, repo string) ([]store.Ref, error)
}) ([]cid.Cid, error) {
	refs, err := st.Refs(ctx, "", "")
	if err != nil {
		return nil, err
	}
	seen := map[cid.Cid]bool{}
	var out []cid.Cid
	for _, r := range refs {
		if !seen[r.Root] {
			seen[r.Root] = true
			out = append(out, r.Root)
		}
		out = append(out, RevisionKey(r.Kind, r.Repo, r.Revision))
	}
	return out, nil
}

// gossipHolders returns the members whose gossiped holdings list the
// revision, full holders first, waiting briefly for catch-up when none is
// known yet.
func (s *Service) gossipHolders(ctx context.Context, kind manifest.Kind, repo, rev string) []peer.ID {
	if s.d.Holdings == nil {
		return nil
	}
	key := replicate.Key(kind, repo, rev)
	deadline := time.Now().Add(catchUpWait)
	for {
		full, partial := s.d.Holdings.Holders(key)
		if len(full)+len(partial) > 0 || s.d.Holdings.CaughtUp() || time.Now().After(deadline) {
			return append(full, partial...)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dialHolders connects to the candidates not connected yet (at most
// maxDial, all at once) that the policy lets hold repo, and returns those
// now connected members.
func (s *Service) dialHolders(ctx context.Context, repo string, cands []peer.ID) []peer.ID {
	var todo []peer.ID
	for _, p := range cands {
		if p == s.d.Self || len(todo) == maxDial {
			continue
		}
		if _, ok := s.d.Host.Member(p); ok {
			continue
		}
		if m, ok := s.d.Holdings.Author(p); ok && !s.d.Policy.Decide(sovereignty.Hold, repo, m).Allow {
			continue // it should not hold it: not a source
		}
		todo = append(todo, p)
	}
	var mu sync.Mutex
	var out []peer.ID
	var wg sync.WaitGroup
	for _, p := range todo {
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			s.learnAddrs(p)
			ai, err := s.d.Host.FindPeer(dctx, p)
			if err == nil {
				err = s.d.Host.Connect(dctx, ai)
			}
			if err != nil {
				s.log.Debug("holder not reached", "peer", p, "err", err)
				return
			}
			mu.Lock()
			out = append(out, p)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// providers asks the DHT for holders of the revision's key.
func (s *Service) providers(ctx context.Context, kind manifest.Kind, repo, rev string) []peer.ID {
	pctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	ais, err := s.d.Host.FindProviders(pctx, RevisionKey(kind, repo, rev), maxDial)
	if err != nil {
		s.log.Debug("providers", "repo", repo, "rev", rev, "err", err)
	}
	out := make([]peer.ID, 0, len(ais))
	for _, ai := range ais {
		s.d.Host.Libp2p().Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
		out = append(out, ai.ID)
	}
	return out
}

// announce tells the DHT, in the background, that this node holds the
// revision (the node's reprovide loop repeats it from its roots).
func (s *Service) announce(kind manifest.Kind, repo, rev string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.d.Host.Provide(ctx, RevisionKey(kind, repo, rev)); err != nil {
			s.log.Debug("announce", "repo", repo, "rev", rev, "err", err)
		}
	}()
}

// protectSources keeps the connections a transfer uses from being trimmed
// until the returned func is called.
func (s *Service) protectSources(sources []peer.ID) (release func()) {
	rs := make([]func(), len(sources))
	for i, p := range sources {
		rs[i] = gossip.Protect(s.d.Host.Libp2p(), p, gossip.TagTransfer)
	}
	return func() {
		for _, r := range rs {
			r()
		}
	}
}

// pullPeers are the members to ask for a revision: the connected ones, and
// its holders beyond them, dialled now: from the gossiped holdings, else
// from the DHT.
func (s *Service) pullPeers(ctx context.Context, kind manifest.Kind, repo, rev string) []p2p.PeerInfo {
	holders := s.gossipHolders(ctx, kind, repo, rev)
	if len(holders) == 0 {
		holders = s.providers(ctx, kind, repo, rev)
	}
	s.dialHolders(ctx, repo, holders)
	return s.d.Host.Peers()
}

// learnAddrs puts the addresses p gossiped with its holdings in the
// peerstore, so it is dialled without a DHT lookup (which a sparse
// network may not answer).
func (s *Service) learnAddrs(p peer.ID) {
	h, ok := s.d.Holdings.Holdings()[p]
	if !ok {
		return
	}
	var addrs []ma.Multiaddr
	for _, b := range h.Addrs {
		if a, err := ma.NewMultiaddrBytes(b); err == nil {
			addrs = append(addrs, a)
		}
	}
	s.d.Host.Libp2p().Peerstore().AddAddrs(p, addrs, time.Hour)
}
