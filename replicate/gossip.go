package replicate

import (
	"context"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/sovereignty"
)

// Gossip carries intents and holdings over the control plane (package
// node adapts p2p/gossip to it): every node hears every node, connected or
// not, so placement is computed from the same view everywhere. When
// Deps.Gossip is set the pushes to connected members are off.
type Gossip interface {
	PublishIntent(ctx context.Context, i Intent) error
	PublishHoldings(ctx context.Context, h Holdings) error
}

// Over gossip every member hears every node's holdings, so they go out
// when they change and otherwise every refreshIntervals intervals (1 min by
// default): what a node holds is news, its heartbeat is not. A node heard
// only through gossip counts as live for liveIntervals after its last
// summary; past it, its grace period starts.
const (
	refreshIntervals = 12
	liveIntervals    = 3 * refreshIntervals
)

// published is the last holdings summary gossiped.
type published struct {
	at     time.Time
	mirror bool
	held   []Held
}

// due reports whether h differs from the last summary (capacity aside) or
// the last one is older than refresh, and records h when it is.
func (p *published) due(h Holdings, now time.Time, refresh time.Duration) bool {
	if !p.at.IsZero() && now.Sub(p.at) < refresh && p.mirror == h.Mirror && slices.Equal(p.held, h.Held) {
		return false
	}
	*p = published{at: now, mirror: h.Mirror, held: h.Held}
	return true
}

// ReceiveIntent takes an intent heard over gossip.
func (r *Service) ReceiveIntent(from peer.ID, i Intent) {
	if err := i.Validate(); err != nil {
		r.log.Warn("intent from gossip refused", "author", from, "err", err)
		return
	}
	r.mu.Lock()
	old, ok := r.intents[i.Key()]
	fresh := !ok || i.Newer(old)
	if fresh {
		r.intents[i.Key()] = i
		if err := r.saveLocked(); err != nil {
			r.log.Error("save intents", "err", err)
		}
	}
	r.mu.Unlock()
	if fresh {
		r.log.Info("intent received", "author", from, "key", i.Key(), "removed", i.Removed)
		r.poke()
	}
}

// ReceiveHoldings takes the holdings of member m heard over gossip.
func (r *Service) ReceiveHoldings(from peer.ID, m *sovereignty.Member, h Holdings) {
	if from == r.h.ID() || m == nil {
		return
	}
	r.mu.Lock()
	pv := r.peers[from]
	if pv == nil {
		pv = &peerView{}
		r.peers[from] = pv
	}
	fresh := !pv.have || h.Seq > pv.holdings.Seq || !pv.gone.IsZero()
	if fresh {
		pv.member, pv.holdings, pv.have, pv.gone = m, h, true, time.Time{}
	}
	pv.heard = time.Now()
	r.mu.Unlock()
	if fresh {
		r.poke()
	}
}

// heardLately reports whether pv's holdings came over gossip recently
// enough for the node to count as live without a connection.
func (r *Service) heardLately(pv *peerView, now time.Time) bool {
	return r.deps.Gossip != nil && !pv.heard.IsZero() && now.Sub(pv.heard) < liveIntervals*r.cfg.Interval
}
