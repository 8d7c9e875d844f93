package router

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/p2p/gossip"
	"github.com/cairnhub/cairn/p2p/infer"
	"github.com/cairnhub/cairn/sovereignty"
)

// Gossip is the control plane as the router uses it; *gossip.Gossip
// satisfies it.
type Gossip interface {
	PublishAdvert(ctx context.Context, a gossip.Advert) error
	// RecentAdverts are the latest adverts of the nodes heard from within
	// ttl.
	RecentAdverts(ttl time.Duration) map[peer.ID]gossip.Advert
	// Author is the membership an author's certificate proved on its last
	// message; false once a revocation list made it unknown again.
	Author(p peer.ID) (*sovereignty.Member, bool)
}

// Bounds of a published advert: the names and addresses must fit, with
// the certificate, in gossip's advert limit (DefaultMaxAdvert, 16 KiB).
const (
	maxAdvertNames = 6 << 10
	maxAdvertAddrs = 8
	// maxDialFailed bounds the servers remembered as not dialable.
	maxDialFailed = 1024
)

// advertNames are the model names this node's advert gossips: one per
// revision, "repo@rev", or one per file, "repo@rev/file", when a revision
// has several GGUF files; none while local inference is off.
func advertNames(ad infer.Advert) []string {
	if !ad.Serving {
		return nil
	}
	var out []string
	size := 0
	add := func(name string) {
		if len(name) > gossip.MaxModel || len(out) >= gossip.MaxModels || size+len(name) > maxAdvertNames {
			return
		}
		out = append(out, name)
		size += len(name) + 2
	}
	for _, m := range ad.Models {
		id := m.Repo + "@" + m.Rev
		if len(m.Files) <= 1 {
			add(id)
			continue
		}
		for _, f := range m.Files {
			add(id + "/" + f)
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

// runAdverts publishes this node's advert on gossip: at start, when what
// it serves changes (looked at every AdvertCheck, which also bounds
// the rate) and every AdvertRefresh, so that other nodes' copies stay
// fresh within HeardTTL.
func (rt *Router) runAdverts(ctx context.Context) {
	tick := time.NewTicker(rt.cfg.AdvertCheck)
	defer tick.Stop()
	var last []string
	var lastAt time.Time
	for {
		names := advertNames(rt.Advert(ctx))
		if lastAt.IsZero() || !slices.Equal(names, last) || time.Since(lastAt) >= rt.cfg.AdvertRefresh {
			if err := rt.publishAdvert(ctx, names); err != nil {
				rt.log.Debug("publish model advert", "err", err)
			} else {
				last, lastAt = names, time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (rt *Router) publishAdvert(ctx context.Context, names []string) error {
	a := gossip.Advert{Models: names}
	if local := rt.deps.Local; local != nil {
		for _, l := range local.Loaded() {
			a.Load += uint32(max(l.Running+l.Waiting, 0))
		}
	}
	for _, addr := range rt.deps.Members.Libp2p().Addrs() {
		if len(a.Addrs) < maxAdvertAddrs && len(addr.Bytes()) <= gossip.MaxAddr {
			a.Addrs = append(a.Addrs, addr.Bytes())
		}
	}
	return rt.deps.Gossip.PublishAdvert(ctx, a)
}

// servesName reports whether an advert's name stands for mid.
func servesName(name string, mid models.ID) bool {
	n, err := models.ParseID(name)
	if err != nil || n.Repo != mid.Repo || n.Rev != mid.Rev {
		return false
	}
	return n.File == mid.File || n.File == "" && mid.File != ""
}

// gossipServer is a member that a gossiped advert says serves a model.
type gossipServer struct {
	id peer.ID
	ad gossip.Advert
}

// gossipServers are the members whose fresh gossiped adverts list mid and
// that the policy allows to process its prompts, least loaded first, and
// every current member with a fresh advert (nil without gossip: the
// router then asks every connected member).
func (rt *Router) gossipServers(mid models.ID) (servers []gossipServer, advertised map[peer.ID]bool) {
	if rt.deps.Gossip == nil {
		return nil, nil
	}
	now := time.Now()
	for p, ad := range rt.deps.Gossip.RecentAdverts(rt.cfg.HeardTTL) {
		m, current := rt.deps.Gossip.Author(p)
		if p == rt.deps.ID || !current || m == nil || !m.Expires.IsZero() && !now.Before(m.Expires) {
			continue
		}
		if advertised == nil {
			advertised = map[peer.ID]bool{}
		}
		advertised[p] = true
		if !slices.ContainsFunc(ad.Models, func(n string) bool { return servesName(n, mid) }) {
			continue
		}
		if !rt.deps.Policy.Decide(sovereignty.Prompts, mid.Repo, m).Allow {
			continue // refused and audited when it is a candidate
		}
		servers = append(servers, gossipServer{id: p, ad: ad})
	}
	slices.SortFunc(servers, func(a, b gossipServer) int {
		if a.ad.Load != b.ad.Load {
			return int(a.ad.Load) - int(b.ad.Load)
		}
		return strings.Compare(string(a.id), string(b.id))
	})
	return servers, advertised
}

// dialServers connects, all at once, to up to MaxDial of servers that are
// not connected members yet, and reports how many became members. A
// server that could not be dialled is not tried again for AdvertRefresh:
// requests do not each wait for the same dead address.
func (rt *Router) dialServers(ctx context.Context, servers []gossipServer) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	n, tried := 0, 0
	now := time.Now()
	for _, s := range servers {
		if tried >= rt.cfg.MaxDial {
			break
		}
		if _, ok := rt.deps.Members.Member(s.id); ok {
			continue
		}
		rt.mu.Lock()
		failed, ok := rt.dialFailed[s.id]
		if ok && now.Sub(failed) >= rt.cfg.AdvertRefresh {
			delete(rt.dialFailed, s.id)
			ok = false
		}
		rt.mu.Unlock()
		if ok {
			continue
		}
		tried++
		ai := peer.AddrInfo{ID: s.id}
		for _, b := range s.ad.Addrs {
			if a, err := ma.NewMultiaddrBytes(b); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, rt.cfg.DialTimeout)
			defer cancel()
			if err := rt.deps.Members.Connect(dctx, ai); err != nil {
				rt.log.Info("a model's server heard of by gossip could not be dialled", "peer", ai.ID, "err", err)
				rt.mu.Lock()
				if len(rt.dialFailed) < maxDialFailed {
					rt.dialFailed[ai.ID] = time.Now()
				}
				rt.mu.Unlock()
				return
			}
			rt.log.Info("dialled a model's server heard of by gossip", "peer", ai.ID)
			mu.Lock()
			n++
			mu.Unlock()
		})
	}
	wg.Wait()
	return n
}
