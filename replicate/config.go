package replicate

import (
	"errors"
	"fmt"
	"time"
)

// Config defaults.
const (
	DefaultGrace        = 30 * time.Second
	DefaultInterval     = 5 * time.Second
	DefaultReplicas     = 2
	DefaultBalance      = 0.1
	DefaultFetches      = 2
	DefaultFetchTimeout = 30 * time.Minute
)

// Config tunes the replicator. It is the "replication" section of a
// node's config.yaml, hence the yaml tags; a zero field means the default
// stated on it.
type Config struct {
	// Disabled keeps this node from taking replicas; it still floods
	// intents and advertises what it holds. Default false. Nodes without
	// the "mirror" role never take replicas either.
	Disabled bool `yaml:"disabled"`
	// Grace is how long a holder may be gone before another node fetches
	// its replicas (repair). Default 30s.
	Grace time.Duration `yaml:"grace"`
	// Interval is how often holdings are advertised and placement is
	// re-checked. Default 5s.
	Interval time.Duration `yaml:"interval"`
	// Capacity is the free space in bytes this node offers for replicas,
	// its placement weight. Default: Deps.DiskFree at each advertisement.
	Capacity int64 `yaml:"capacity"`
	// Replicas is the replication factor of a pin that gives none when
	// the policy gives no min either. Default 2.
	Replicas int `yaml:"replicas"`
	// Balance is the load bound ε of placement (Placer.Balance): no node
	// holds more than (1+ε) times its fair share while another has room.
	// Default 0.1; negative turns the bound off (pure rendezvous hashing,
	// each revision placed independently). Every node must use the same
	// value, or their placements differ.
	Balance float64 `yaml:"balance"`
	// Fetches is how many replications run at once. Default 2.
	Fetches int `yaml:"fetches"`
	// Sources bounds the holders one replication fetches from, nearest
	// first. Default 0: every holder (see p2p/fetch).
	Sources int `yaml:"sources"`
	// FetchTimeout bounds one replication attempt; a fetch that has not
	// finished by then is abandoned and retried at the next interval
	// (blocks already stored are kept). Default 30m.
	FetchTimeout time.Duration `yaml:"fetch_timeout"`
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.Balance == 0 {
		c.Balance = DefaultBalance
	}
	if c.Fetches == 0 {
		c.Fetches = DefaultFetches
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	return c
}

// Validate checks values defaults cannot fix. Errors name the field as
// config.yaml spells it.
func (c Config) Validate() error {
	switch {
	case c.Grace < 0:
		return errors.New("replication.grace: must not be negative")
	case c.Interval < 0:
		return errors.New("replication.interval: must not be negative")
	case c.Capacity < 0:
		return errors.New("replication.capacity: must not be negative")
	case c.Replicas < 0 || c.Replicas > MaxReplicas:
		return fmt.Errorf("replication.replicas %d: want 0-%d", c.Replicas, MaxReplicas)
	case c.Balance > 10:
		return fmt.Errorf("replication.balance %v: want at most 10", c.Balance)
	case c.Fetches < 0:
		return errors.New("replication.fetches: must not be negative")
	case c.Sources < 0:
		return errors.New("replication.sources: must not be negative")
	case c.FetchTimeout < 0:
		return errors.New("replication.fetch_timeout: must not be negative")
	}
	return nil
}
