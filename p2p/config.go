package p2p

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/cairnhub/cairn/sovereignty"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	ma "github.com/multiformats/go-multiaddr"
)

// DHTMode selects how the Kademlia DHT answers queries.
type DHTMode string

const (
	// DHTAutoServer follows the host's reachability and acts as a server while it is
	// unknown: the right default inside a private network, where AutoNAT rarely has
	// enough peers to decide.
	DHTAutoServer DHTMode = "auto-server"
	// DHTAuto follows reachability and acts as a client while it is unknown.
	DHTAuto DHTMode = "auto"
	// DHTServer always answers queries.
	DHTServer DHTMode = "server"
	// DHTClient never answers queries (edge nodes behind NAT).
	DHTClient DHTMode = "client"
)

// MDNSServiceName is the mDNS service Cairn nodes advertise, apart from IPFS's.
const MDNSServiceName = "cairn"

// Config configures a Host. The zero value of every field but Key means its default.
type Config struct {
	// Key is the node's libp2p identity, an ed25519 private key. Required: the node
	// package loads it from the node's home, and the certificate names its peer ID.
	Key crypto.PrivKey

	// Listen lists the multiaddrs to listen on. Default: /ip4/0.0.0.0/tcp/4001 and
	// /ip4/0.0.0.0/udp/4001/quic-v1 (only the TCP one in PSK mode). Port 0 picks a free
	// port.
	Listen []string

	// Bootstrap lists static peers as multiaddrs ending in /p2p/<peer ID>. The host
	// keeps reconnecting to them with exponential backoff. Default: none.
	Bootstrap []string

	// MDNS turns on mDNS discovery on the local network, under service name "cairn".
	// Default: off, because it multicasts to hosts nobody configured.
	MDNS bool

	// DHTMode is one of "auto-server", "auto", "server", "client". Default: "auto-server".
	DHTMode DHTMode

	// PSK is the pre-shared key of a private libp2p network: 32 raw bytes, or the
	// contents of a swarm.key file in the "/key/swarm/psk/1.0.0/" format Kubo uses
	// (so a Kubo node can share the network). Default: none.
	//
	// WARNING: setting PSK TURNS QUIC OFF. go-libp2p refuses a pre-shared key on QUIC,
	// so in PSK mode the host runs TCP only, and a QUIC listen address is a
	// configuration error. PSK adds network-level isolation on top of certificate
	// membership; it does not replace it.
	PSK []byte

	// HelloTimeout bounds the certificate exchange of a new connection; a peer that has
	// not proved membership by then is disconnected. Default: 10s.
	HelloTimeout time.Duration

	// RefuseFor is how long a refused peer stays refused by the connection gater.
	// Default: 10m.
	RefuseFor time.Duration

	// PingInterval is how often each member's round-trip time is measured, and how
	// often members are re-verified (certificates expire while connected). Default: 30s.
	PingInterval time.Duration

	// BootstrapInterval is the first retry delay for an unreachable bootstrap peer; it
	// doubles per failure up to 32 times this value. Default: 5s.
	BootstrapInterval time.Duration

	// ReprovideInterval is how often the roots from Deps.Roots are announced to the
	// DHT again (provider records expire after 48h). Default: 12h.
	ReprovideInterval time.Duration

	// InteropPeers lists plain IPFS nodes (Kubo, say) let in WITHOUT a membership
	// certificate. Opt-in, default: none. The connection gater admits them and no
	// hello is asked of them; they are served by a second bitswap on the standard
	// /ipfs/bitswap protocols, which talks to these peers only, and get no Cairn
	// protocol (DHT, fetch, inference). Each is treated as a member of jurisdiction
	// InteropJurisdiction, so the BlockFilter (residency policy) still decides what
	// it receives. The same bitswap fetches blocks from them (InteropGetBlock).
	InteropPeers []peer.ID

	// InteropJurisdiction is the ISO 3166 code interop peers are treated as members
	// of. No default: required when InteropPeers is not empty.
	InteropJurisdiction string
	// RelayService offers circuit relay v2 to members (reservations and relayed
	// connections for members only, without data or time limits: relaying is what a
	// mirror is for), answers AutoNAT dial-backs, so that members nobody can dial
	// (edge nodes behind NAT) are reached through this host. Default: off (node turns
	// it on for the mirror role).
	RelayService bool
	// Relays are members to keep a relay reservation on (multiaddrs ending in
	// /p2p/<peer ID>). While it holds one, the host advertises the relayed address
	// <relay addr>/p2p/<relay>/p2p-circuit beside its own, so members reach it
	// through the relay, and tries to turn relayed connections into direct ones by
	// hole punching (DCUtR) where the NAT allows. Default: none.
	Relays []string
	// RelayRefresh is how often reservations are renewed (they last an hour) and a
	// lost one is retried. Default: 5m.
	RelayRefresh time.Duration
}

// Defaults for Config fields.
const (
	DefaultPort              = 4001
	DefaultHelloTimeout      = 10 * time.Second
	DefaultRefuseFor         = 10 * time.Minute
	DefaultPingInterval      = 30 * time.Second
	DefaultBootstrapInterval = 5 * time.Second
	DefaultReprovideInterval = 12 * time.Hour
	DefaultRelayRefresh      = 5 * time.Minute
)

// withDefaults returns a copy of c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if len(c.Listen) == 0 {
		c.Listen = []string{fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultPort)}
		if len(c.PSK) == 0 {
			c.Listen = append(c.Listen, fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultPort))
		}
	}
	if c.DHTMode == "" {
		c.DHTMode = DHTAutoServer
	}
	if c.HelloTimeout == 0 {
		c.HelloTimeout = DefaultHelloTimeout
	}
	if c.RefuseFor == 0 {
		c.RefuseFor = DefaultRefuseFor
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.BootstrapInterval == 0 {
		c.BootstrapInterval = DefaultBootstrapInterval
	}
	if c.ReprovideInterval == 0 {
		c.ReprovideInterval = DefaultReprovideInterval
	}
	if c.RelayRefresh == 0 {
		c.RelayRefresh = DefaultRelayRefresh
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.Key == nil {
		return errors.New("p2p config: Key: required")
	}
	if c.Key.Type() != crypto.Ed25519 {
		return fmt.Errorf("p2p config: Key: %v key, want ed25519", c.Key.Type())
	}
	c = c.withDefaults()
	for _, s := range c.Listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("p2p config: Listen %q: %w", s, err)
		}
		if len(c.PSK) > 0 && isQUIC(a) {
			return fmt.Errorf("p2p config: Listen %q: QUIC is off in PSK mode (go-libp2p refuses a pre-shared key on QUIC)", s)
		}
	}
	if _, err := parseBootstrap(c.Bootstrap); err != nil {
		return err
	}
	if _, err := parseAddrInfos(c.Relays, "Relays"); err != nil {
		return err
	}
	switch c.DHTMode {
	case DHTAutoServer, DHTAuto, DHTServer, DHTClient:
	default:
		return fmt.Errorf("p2p config: DHTMode %q: want auto-server, auto, server or client", c.DHTMode)
	}
	for _, p := range c.InteropPeers {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("p2p config: InteropPeers %q: %w", p, err)
		}
	}
	if len(c.InteropPeers) > 0 && !sovereignty.ValidJurisdiction(c.InteropJurisdiction) {
		return fmt.Errorf("p2p config: InteropJurisdiction %q: want the ISO 3166 code interop peers are treated as members of", c.InteropJurisdiction)
	}
	if len(c.PSK) != 0 {
		if _, err := c.psk(); err != nil {
			return err
		}
	}
	for name, d := range map[string]time.Duration{
		"HelloTimeout": c.HelloTimeout, "RefuseFor": c.RefuseFor, "PingInterval": c.PingInterval,
		"BootstrapInterval": c.BootstrapInterval, "ReprovideInterval": c.ReprovideInterval,
	} {
		if d < 0 {
			return fmt.Errorf("p2p config: %s: %v is negative", name, d)
		}
	}
	return nil
}

func isQUIC(a ma.Multiaddr) bool {
	for _, c := range a {
		switch c.Protocol().Code {
		case ma.P_QUIC, ma.P_QUIC_V1, ma.P_WEBTRANSPORT:
			return true
		}
	}
	return false
}

func parseBootstrap(addrs []string) ([]peer.AddrInfo, error) {
	return parseAddrInfos(addrs, "Bootstrap")
}

// parseAddrInfos parses multiaddrs ending in /p2p/<peer ID>; field names the
// setting in errors.
func parseAddrInfos(addrs []string, field string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p config: %s %q: %w", field, s, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			return nil, fmt.Errorf("p2p config: %s %q: want a multiaddr ending in /p2p/<peer ID>: %w", field, s, err)
		}
		out = append(out, *ai)
	}
	return out, nil
}

// psk returns the 32-byte key of Config.PSK in either accepted form.
func (c Config) psk() (pnet.PSK, error) {
	if bytes.HasPrefix(c.PSK, []byte("/key/swarm/psk/1.0.0/")) {
		k, err := pnet.DecodeV1PSK(bytes.NewReader(c.PSK))
		if err != nil {
			return nil, fmt.Errorf("p2p config: PSK: swarm.key format: %w", err)
		}
		return k, nil
	}
	if len(c.PSK) != 32 {
		return nil, fmt.Errorf("p2p config: PSK: %d bytes, want 32 raw bytes or a swarm.key file", len(c.PSK))
	}
	return pnet.PSK(c.PSK), nil
}
