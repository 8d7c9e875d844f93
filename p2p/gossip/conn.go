package gossip

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
)

// Defaults of ConnLimits.
const (
	DefaultMaxPeers    = 64
	DefaultLowWater    = 0.75
	DefaultGracePeriod = 30 * time.Second
)

// Protection tags: a connection protected under one is never trimmed by the
// connection manager.
const (
	// TagRelay protects connections to this node's circuit relays.
	TagRelay = "cairn-relay"
	// TagTransfer protects a connection while blocks move over it.
	TagTransfer = "cairn-transfer"
)

// ConnLimits bounds the connections a node keeps, so no node assumes a full
// mesh. Zero fields take the documented defaults.
type ConnLimits struct {
	// MaxPeers is the connection manager's high water: past it, connections
	// are trimmed down to the low water. Default 64.
	MaxPeers int
	// LowWater is the fraction of MaxPeers kept after trimming, in (0, 1].
	// Default 0.75.
	LowWater float64
	// GracePeriod protects a new connection from trimming (its hello and
	// catch-up run in it). Default 30 s.
	GracePeriod time.Duration
}

func (c ConnLimits) withDefaults() ConnLimits {
	if c.MaxPeers == 0 {
		c.MaxPeers = DefaultMaxPeers
	}
	if c.LowWater == 0 {
		c.LowWater = DefaultLowWater
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = DefaultGracePeriod
	}
	return c
}

// Validate checks c after defaults are applied.
func (c ConnLimits) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxPeers < 2 || c.MaxPeers > 100_000:
		return fmt.Errorf("connection limits: max peers %d: want 2-100000", c.MaxPeers)
	case !(c.LowWater > 0 && c.LowWater <= 1):
		return fmt.Errorf("connection limits: low water %v: want a fraction in (0, 1]", c.LowWater)
	case c.GracePeriod < 0:
		return fmt.Errorf("connection limits: grace period %v: want at least 0", c.GracePeriod)
	}
	return nil
}

// Water returns the low and high water marks c gives.
func (c ConnLimits) Water() (low, high int) {
	c = c.withDefaults()
	low = max(1, int(float64(c.MaxPeers)*c.LowWater))
	return min(low, c.MaxPeers), c.MaxPeers
}

// ConnManager returns the go-libp2p option that installs a connection manager
// bounded by c. GossipSub tags its mesh peers in it, so trimming keeps the mesh.
func ConnManager(c ConnLimits) (libp2p.Option, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	low, high := c.Water()
	cm, err := connmgr.NewConnManager(low, high, connmgr.WithGracePeriod(c.withDefaults().GracePeriod))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	return libp2p.ConnectionManager(cm), nil
}

var protectSeq atomic.Uint64

// Protect keeps the connection to p from being trimmed until release is
// called (release is idempotent). Each call protects under its own tag
// (tag-N), so two transfers with one peer do not end each other's protection.
func Protect(h host.Host, p peer.ID, tag string) (release func()) {
	t := tag + "-" + strconv.FormatUint(protectSeq.Add(1), 10)
	cm := h.ConnManager()
	cm.Protect(p, t)
	var once sync.Once
	return func() { once.Do(func() { cm.Unprotect(p, t) }) }
}
