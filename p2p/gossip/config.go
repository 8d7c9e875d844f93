package gossip

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults of Config; a zero field takes its default.
const (
	DefaultMaxPolicy       = 256 << 10
	DefaultMaxRevocations  = 512 << 10
	DefaultMaxCertificate  = 8 << 10
	DefaultMaxIntent       = 4 << 10
	DefaultMaxHoldings     = 512 << 10
	DefaultMaxAdvert       = 16 << 10
	DefaultMaxAudit        = 16 << 10
	DefaultMaxOrigins      = 100_000
	DefaultMaxState        = 16 << 20
	DefaultCatchUpTimeout  = 30 * time.Second
	DefaultHeartbeat       = time.Second
	DefaultScoreInspect    = 10 * time.Second
	DefaultInvalidWeight   = -100
	DefaultGossipThreshold = -500
	DefaultPublishThresh   = -1000
	DefaultGraylist        = -2500
)

// maxPubsubMessage is the largest RPC pubsub accepts; every per-kind limit
// plus the envelope must fit in it.
const maxPubsubMessage = 1 << 20

// Config tunes the control plane. Zero fields take the documented defaults.
type Config struct {
	// Org names the topic family (/cairn/<Org>/<kind>). Empty: the
	// organisation of Deps.Certificate.
	Org string

	// Per-kind payload limits in bytes (the whole message data). A larger
	// message is rejected and its sender penalised.
	MaxPolicy      int // default 256 KiB
	MaxRevocations int // default 512 KiB
	MaxCertificate int // default 8 KiB
	MaxIntent      int // default 4 KiB
	MaxHoldings    int // default 512 KiB
	MaxAdvert      int // default 16 KiB
	MaxAudit       int // default 16 KiB

	// MaxOrigins bounds the origins (organisations, nodes, intent keys) whose
	// latest version is remembered per kind; messages from further origins
	// are ignored. Default 100,000.
	MaxOrigins int
	// MaxState bounds a catch-up answer in bytes. Default 16 MiB.
	MaxState int64
	// CatchUpTimeout bounds one catch-up exchange. Default 30 s.
	CatchUpTimeout time.Duration
	// DisableCatchUp turns off the automatic catch-up on connection (CatchUp
	// still works when called). Default false: catch-up on.
	DisableCatchUp bool

	// Heartbeat is the gossipsub heartbeat (mesh upkeep and gossip).
	// Default 1 s.
	Heartbeat time.Duration
	// ScoreInspect is how often Scores is refreshed. Default 10 s.
	ScoreInspect time.Duration
	// InvalidWeight is the score penalty weight of invalid messages: a peer
	// that sent n invalid messages (decaying over an hour) scores
	// InvalidWeight·n². Negative. Default -100.
	InvalidWeight float64
	// Score thresholds (negative, each no greater than the one before): below
	// GossipThreshold a peer gets no gossip, below PublishThreshold none of
	// our own messages, below GraylistThreshold its messages are dropped
	// unread. Defaults -500, -1000, -2500: with the default weight, 3, 4 and 6
	// invalid messages.
	GossipThreshold, PublishThreshold, GraylistThreshold float64
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	set(&c.MaxPolicy, DefaultMaxPolicy)
	set(&c.MaxRevocations, DefaultMaxRevocations)
	set(&c.MaxCertificate, DefaultMaxCertificate)
	set(&c.MaxIntent, DefaultMaxIntent)
	set(&c.MaxHoldings, DefaultMaxHoldings)
	set(&c.MaxAdvert, DefaultMaxAdvert)
	set(&c.MaxAudit, DefaultMaxAudit)
	set(&c.MaxOrigins, DefaultMaxOrigins)
	if c.MaxState == 0 {
		c.MaxState = DefaultMaxState
	}
	if c.CatchUpTimeout == 0 {
		c.CatchUpTimeout = DefaultCatchUpTimeout
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.ScoreInspect == 0 {
		c.ScoreInspect = DefaultScoreInspect
	}
	if c.InvalidWeight == 0 {
		c.InvalidWeight = DefaultInvalidWeight
	}
	if c.GossipThreshold == 0 {
		c.GossipThreshold = DefaultGossipThreshold
	}
	if c.PublishThreshold == 0 {
		c.PublishThreshold = DefaultPublishThresh
	}
	if c.GraylistThreshold == 0 {
		c.GraylistThreshold = DefaultGraylist
	}
	return c
}

// Validate checks c after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Org != "" && !validOrg(c.Org) {
		errs = append(errs, fmt.Errorf("org %q: want 1-64 of [A-Za-z0-9._-]", c.Org))
	}
	for _, k := range Kinds() {
		if n := c.limit(k); n < 64 || n > maxPubsubMessage-MaxCertificate-1024 {
			errs = append(errs, fmt.Errorf("max %s size %d: want 64 to %d bytes", k, n, maxPubsubMessage-MaxCertificate-1024))
		}
	}
	if c.MaxOrigins < 1 {
		errs = append(errs, fmt.Errorf("max origins %d: want at least 1", c.MaxOrigins))
	}
	if c.MaxState < 1<<10 {
		errs = append(errs, fmt.Errorf("max state %d: want at least 1 KiB", c.MaxState))
	}
	if c.CatchUpTimeout < 0 || c.Heartbeat < 10*time.Millisecond || c.ScoreInspect < 10*time.Millisecond {
		errs = append(errs, errors.New("catch-up timeout must be positive, heartbeat and score inspect at least 10 ms"))
	}
	if !(c.InvalidWeight < 0) || math.IsInf(c.InvalidWeight, 0) {
		errs = append(errs, fmt.Errorf("invalid weight %v: want negative", c.InvalidWeight))
	}
	if !(c.GossipThreshold < 0 && c.PublishThreshold <= c.GossipThreshold && c.GraylistThreshold <= c.PublishThreshold) {
		errs = append(errs, fmt.Errorf("score thresholds %v, %v, %v: want gossip < 0, publish <= gossip, graylist <= publish",
			c.GossipThreshold, c.PublishThreshold, c.GraylistThreshold))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gossip config: %w", err)
	}
	return nil
}

// limit is the payload limit of kind k.
func (c Config) limit(k Kind) int {
	switch k {
	case KindPolicy:
		return c.MaxPolicy
	case KindRevocations:
		return c.MaxRevocations
	case KindCertificate:
		return c.MaxCertificate
	case KindIntent:
		return c.MaxIntent
	case KindHoldings:
		return c.MaxHoldings
	case KindAdvert:
		return c.MaxAdvert
	case KindAudit:
		return c.MaxAudit
	}
	return 0
}

func validOrg(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
