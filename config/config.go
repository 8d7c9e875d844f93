package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"gopkg.in/yaml.v3"

	"github.com/cairnhub/cairn/p2p/gossip"
	"github.com/cairnhub/cairn/progress"
	"github.com/cairnhub/cairn/repair"
	"github.com/cairnhub/cairn/replicate"
	"github.com/cairnhub/cairn/sovereignty"
)

// Config is a node's configuration, as written in config.yaml.
type Config struct {
	Store       Store            `yaml:"store"`
	HTTP        HTTP             `yaml:"http"`
	Upstream    Upstream         `yaml:"upstream"`
	P2P         P2P              `yaml:"p2p"`
	Inference   Inference        `yaml:"inference"`
	Replication replicate.Config `yaml:"replication"`
	Provenance  Provenance       `yaml:"provenance"`
}

// Store tunes the badger store.
type Store struct {
	// SyncWrites fsyncs every commit so it survives power loss. Default
	// false: commits are atomic either way and survive a process crash.
	SyncWrites bool `yaml:"sync_writes"`
	// ScrubInterval is how often the daemon re-hashes every stored block
	// and repairs the bad ones from members. Default: 24h on a node whose
	// certificate has the mirror role, never on others; "0s" turns it off.
	ScrubInterval *Duration `yaml:"scrub_interval"`
	// ScrubRate bounds the bytes a second the scrub re-hashes. Default
	// 64 MiB/s.
	ScrubRate int64 `yaml:"scrub_rate"`
}

// HTTP is the node's HTTP API (Hugging Face and OpenAI compatible).
type HTTP struct {
	// Addr is the listen address. Default "127.0.0.1:8080".
	Addr string `yaml:"addr"`
	// Tokens, when not empty, are the bearer tokens allowed to read.
	// Default: none, the API is open to whoever reaches Addr.
	Tokens []HTTPToken `yaml:"tokens"`
	// AllowedHosts are host names, besides IP literals and localhost, the
	// API answers to: a Host header naming another is refused (DNS
	// rebinding). Default none.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// CORSOrigins are the browser origins allowed to call the API. Default
	// none: no CORS headers, and requests carrying another Origin are
	// refused.
	CORSOrigins []string `yaml:"cors_origins"`
	// MetricsAddr, when set, serves /metrics on its own listener without
	// tokens (and not on Addr). Default: /metrics on Addr, behind the
	// tokens when Tokens are set.
	MetricsAddr string `yaml:"metrics_addr"`
}

// HTTPToken is one bearer token of the HTTP API.
type HTTPToken struct {
	// Token is the secret clients send as "Authorization: Bearer TOKEN".
	Token string `yaml:"token"`
	// Jurisdiction, when set (ISO 3166 code), binds the token's requests
	// to the residency policy as if they came from a node there. Default
	// none: the token reads whatever the node holds.
	Jurisdiction string `yaml:"jurisdiction"`
}

// Upstream is the Hugging Face Hub the node mirrors from.
type Upstream struct {
	// Endpoint is the Hub's base URL. Default "https://huggingface.co".
	Endpoint string `yaml:"endpoint"`
	// Token is sent as a bearer token upstream (gated repos). Default none.
	Token string `yaml:"token"`
	// Offline stops every upstream request. Default false.
	Offline bool `yaml:"offline"`
	// RedirectHosts are the only other hosts the upstream may redirect
	// file downloads to (https, without the token): the Hub serves large
	// files from its CDN. Default DefaultRedirectHosts; [] allows none.
	RedirectHosts []string `yaml:"redirect_hosts"`
}

// DefaultRedirectHosts are the Hugging Face Hub's file CDN hosts.
var DefaultRedirectHosts = []string{"cdn-lfs.hf.co", "cdn-lfs-us-1.hf.co", "cdn-lfs-eu-1.hf.co", "cdn-lfs.huggingface.co", "cas-bridge.xethub.hf.co"}

// P2P is the libp2p host.
type P2P struct {
	// Listen are multiaddrs to listen on. Default TCP and QUIC on port 4001
	// of every interface. Port 0 picks a free port.
	Listen []string `yaml:"listen"`
	// Bootstrap are multiaddrs (with /p2p/ID) of peers to dial at start.
	// Default none.
	Bootstrap []string `yaml:"bootstrap"`
	// MDNS turns on discovery of peers on the local network. Default false:
	// it multicasts to hosts nobody configured.
	MDNS bool `yaml:"mdns"`
	// PSKFile, when set, names a 32-byte pre-shared key file: TCP only,
	// QUIC is turned off (go-libp2p refuses PSK on QUIC). Default none.
	PSKFile string `yaml:"psk_file"`
	// InteropPeers are peer IDs of plain IPFS nodes (Kubo) let in WITHOUT a
	// membership certificate, opt-in. They are served by a bitswap on the
	// standard /ipfs/bitswap protocols (which talks to them only, so `ipfs
	// cat` works against this node) and get no Cairn protocol. Each is
	// treated as a member of jurisdiction InteropJurisdiction, so the
	// residency policy still decides what it receives. Default none.
	InteropPeers []string `yaml:"interop_peers"`
	// InteropJurisdiction is the ISO 3166 code interop peers are treated as
	// members of. No default: required when interop_peers is set.
	InteropJurisdiction string `yaml:"interop_jurisdiction"`
	// MaxUploadRate bounds the block bytes per second the node serves to
	// peers over all streams together: a size per second ("16MiB",
	// "100MB"). Default "0": unlimited.
	MaxUploadRate string `yaml:"max_upload_rate"`
	// MaxDownloadRate bounds the block bytes per second the node fetches
	// from peers over all streams together. Default "0": unlimited.
	MaxDownloadRate string `yaml:"max_download_rate"`
	// MaxPeers bounds the connections kept (the connection manager's high
	// water; it trims to three quarters of it). Relays and peers
	// mid-transfer are never trimmed. Default 64.
	MaxPeers int `yaml:"max_peers"`
	// RelayService offers circuit relay v2 to members that nobody can dial
	// (edge nodes behind NAT). Default: on for the mirror role.
	RelayService *bool `yaml:"relay_service"`
	// Relays are members (multiaddrs with /p2p/ID) to keep a relay
	// reservation on, so this node is reachable behind NAT. Default: the
	// bootstrap peers for the edge role, none otherwise.
	Relays []string `yaml:"relays"`
}

// Rates parses the upload and download limits (bytes per second, 0:
// unlimited).
func (c P2P) Rates() (up, down int64, err error) {
	if up, err = parseRate("p2p.max_upload_rate", c.MaxUploadRate); err != nil {
		return 0, 0, err
	}
	if down, err = parseRate("p2p.max_download_rate", c.MaxDownloadRate); err != nil {
		return 0, 0, err
	}
	return up, down, nil
}

func parseRate(name, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := progress.ParseRate(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", name, s, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("%s %q: must not be negative", name, s)
	}
	return n, nil
}

// Inference is the local inference engine.
type Inference struct {
	// Disabled stops this node from serving models itself (it may still
	// forward). Default false.
	Disabled bool `yaml:"disabled"`
	// KeepAlive is how long an idle model stays loaded. Default 5m.
	KeepAlive Duration `yaml:"keep_alive"`
	// Queue bounds requests waiting per model; more get 503. Default 16.
	Queue int `yaml:"queue"`
	// MaxLoadedModels caps the models loaded at once: loading another
	// unloads the least recently used idle one, and while every loaded
	// model is busy the request waits in its queue. Default 3.
	MaxLoadedModels int `yaml:"max_loaded_models"`
	// Weights is how a loaded model holds its weights: "resident" (copied
	// into huge-page memory, never evicted; Q4_0 decodes about a fifth
	// faster), "mmap" (mapped from the file, evictable, shared with the
	// page cache). Default "": resident when the file takes at most half
	// of the available memory, else mmap.
	Weights string `yaml:"weights"`
}

// Duration is a time.Duration written as "5m" in YAML.
type Duration time.Duration

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: duration %q: %w", n.Line, n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// Defaults.
const (
	DefaultHTTPAddr  = "127.0.0.1:8080"
	DefaultUpstream  = "https://huggingface.co"
	DefaultKeepAlive = 5 * time.Minute
	DefaultQueue     = 16
	DefaultMaxLoaded = 3
	// DefaultMaxPeers is p2p.max_peers' default: enough neighbours for
	// gossip to spread in a few hops through thousands of members.
	DefaultMaxPeers = gossip.DefaultMaxPeers
)

// DefaultListen are the p2p listen addresses when none are configured.
var DefaultListen = []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = DefaultHTTPAddr
	}
	if c.Upstream.Endpoint == "" {
		c.Upstream.Endpoint = DefaultUpstream
	}
	if c.Upstream.RedirectHosts == nil {
		c.Upstream.RedirectHosts = DefaultRedirectHosts
	}
	if len(c.P2P.Listen) == 0 {
		c.P2P.Listen = DefaultListen
	}
	if c.P2P.MaxUploadRate == "" {
		c.P2P.MaxUploadRate = "0"
	}
	if c.P2P.MaxDownloadRate == "" {
		c.P2P.MaxDownloadRate = "0"
	}
	if c.Store.ScrubRate == 0 {
		c.Store.ScrubRate = repair.DefaultScrubRate
	}
	if c.P2P.MaxPeers == 0 {
		c.P2P.MaxPeers = DefaultMaxPeers
	}
	if c.Inference.KeepAlive == 0 {
		c.Inference.KeepAlive = Duration(DefaultKeepAlive)
	}
	if c.Inference.Queue == 0 {
		c.Inference.Queue = DefaultQueue
	}
	if c.Inference.MaxLoadedModels == 0 {
		c.Inference.MaxLoadedModels = DefaultMaxLoaded
	}
	return c
}

// Validate checks values that defaults cannot fix.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		return fmt.Errorf("http.addr %q: %w", c.HTTP.Addr, err)
	}
	if c.HTTP.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.MetricsAddr); err != nil {
			return fmt.Errorf("http.metrics_addr %q: %w", c.HTTP.MetricsAddr, err)
		}
	}
	u, err := url.Parse(c.Upstream.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("upstream.endpoint %q: want an http(s) URL", c.Upstream.Endpoint)
	}
	if _, err := c.P2P.InteropIDs(); err != nil {
		return err
	}
	if _, _, err := c.P2P.Rates(); err != nil {
		return err
	}
	if len(c.P2P.InteropPeers) > 0 && !sovereignty.ValidJurisdiction(c.P2P.InteropJurisdiction) {
		return fmt.Errorf("p2p.interop_jurisdiction %q: want the ISO 3166 code interop peers are treated as members of", c.P2P.InteropJurisdiction)
	}
	if c.Store.ScrubInterval != nil && *c.Store.ScrubInterval < 0 || c.Store.ScrubRate < 0 {
		return errors.New("store.scrub_interval, store.scrub_rate: must not be negative")
	}
	if c.P2P.MaxPeers != 0 && (c.P2P.MaxPeers < 2 || c.P2P.MaxPeers > 100_000) {
		return fmt.Errorf("p2p.max_peers %d: want 2-100000", c.P2P.MaxPeers)
	}
	if c.Inference.Queue < 0 {
		return fmt.Errorf("inference.queue %d: must not be negative", c.Inference.Queue)
	}
	if c.Inference.KeepAlive < 0 {
		return errors.New("inference.keep_alive: must not be negative")
	}
	if c.Inference.MaxLoadedModels < 0 {
		return fmt.Errorf("inference.max_loaded_models %d: must not be negative", c.Inference.MaxLoadedModels)
	}
	switch c.Inference.Weights {
	case "", "mmap", "resident":
	default:
		return fmt.Errorf("inference.weights %q: want mmap, resident or empty (resident when the model fits)", c.Inference.Weights)
	}
	if err := c.Replication.Validate(); err != nil {
		return err
	}
	return c.Provenance.Validate()
}

// InteropIDs parses p2p.interop_peers.
func (c P2P) InteropIDs() ([]peer.ID, error) {
	var out []peer.ID
	for _, s := range c.InteropPeers {
		id, err := peer.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("p2p.interop_peers %q: %w", s, err)
		}
		out = append(out, id)
	}
	return out, nil
}

// Parse reads config.yaml bytes; unknown keys are errors.
func Parse(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// Load reads a config file.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// DefaultYAML is what `cairn init` writes: every default spelled out
// with what it means, so an operator edits rather than guesses.
const DefaultYAML = `# Cairn node configuration. Every value shown is the default;
# delete a line and the default applies.

store:
  # fsync every commit so it survives power loss. Commits are atomic
  # and survive a crash of the process either way.
  sync_writes: false
  # Re-hash every stored block this often and repair bad ones from
  # members. Unset: 24h on a node with the mirror role, never on others;
  # 0s: never.
  # scrub_interval: 24h
  # Bytes a second the scrub re-hashes, at most (64 MiB/s).
  scrub_rate: 67108864

http:
  # Hugging Face-compatible (HF_ENDPOINT) and OpenAI-compatible API.
  addr: 127.0.0.1:8080
  # Bearer tokens allowed to read. Empty: open to whoever reaches addr.
  # A token bound to a jurisdiction reads only what the residency policy
  # lets that jurisdiction receive:
  #   - {token: "s3cret", jurisdiction: "DE"}
  tokens: []
  # Host names (besides IP literals and localhost) the API answers to;
  # any other Host header is refused, which stops DNS rebinding.
  allowed_hosts: []
  # Browser origins allowed to call the API (CORS). Empty: none.
  cors_origins: []
  # Serve /metrics on this address instead, without tokens. Empty: on
  # addr, behind the tokens when tokens are set.
  metrics_addr: ""

upstream:
  # The Hugging Face Hub that "cairn mirror" pulls from.
  endpoint: https://huggingface.co
  # Bearer token sent upstream, for gated repos.
  token: ""
  # Never contact the upstream; answer only from what this node holds.
  offline: false
  # The only other hosts downloads may be redirected to (the Hub's CDN),
  # over https and without the token. [] allows none.
  redirect_hosts: [cdn-lfs.hf.co, cdn-lfs-us-1.hf.co, cdn-lfs-eu-1.hf.co, cdn-lfs.huggingface.co, cas-bridge.xethub.hf.co]

p2p:
  # libp2p listen addresses; port 0 picks a free port.
  listen:
    - /ip4/0.0.0.0/tcp/4001
    - /ip4/0.0.0.0/udp/4001/quic-v1
  # Peers to dial at start: /ip4/…/tcp/4001/p2p/12D3Koo…
  bootstrap: []
  # Discover peers on the local network (mDNS). Off by default: it
  # multicasts to hosts nobody configured.
  mdns: false
  # A 32-byte pre-shared key file for network-level isolation. Turns QUIC
  # OFF (go-libp2p refuses PSK on QUIC): TCP only.
  psk_file: ""
  # Plain IPFS nodes (Kubo) let in WITHOUT a certificate, by peer ID
  # (12D3Koo…). Served over the standard /ipfs/bitswap only, as members of
  # interop_jurisdiction: the residency policy still applies to them.
  interop_peers: []
  # ISO 3166 code interop peers are treated as members of (required with
  # interop_peers).
  interop_jurisdiction: ""
  # Block bytes per second served to peers, over all streams together:
  # a size per second (16MiB, 100MB). 0: unlimited.
  max_upload_rate: "0"
  # Block bytes per second fetched from peers, all streams together.
  # 0: unlimited.
  max_download_rate: "0"
  # Connections kept at most (trimmed to three quarters past it); relays and
  # peers mid-transfer are never trimmed. "cairn daemon --max-peers" overrides.
  max_peers: 64
  # Offer circuit relay v2 to members nobody can dial (edge nodes behind
  # NAT). Unset: on for the mirror role, off otherwise.
  # relay_service: true
  # Members to keep a relay reservation on (multiaddrs with /p2p/ID), so this
  # node is reachable behind NAT. Unset: the bootstrap peers for the edge
  # role, none otherwise.
  # relays: []

inference:
  # Do not serve models on this node (requests may still be forwarded).
  disabled: false
  # How long an idle model stays loaded.
  keep_alive: 5m0s
  # Requests waiting per model; more are answered 503.
  queue: 16
  # Models loaded at once. Loading another unloads the least recently
  # used idle one; while every loaded model is busy the request waits.
  max_loaded_models: 3
  # How a loaded model holds its weights: resident (huge-page memory,
  # never evicted, faster), mmap (the mapped file), or "" for resident
  # when the file takes at most half of the available memory.
  weights: ""

replication:
  # Take no replicas (still floods pins and advertises holdings). Nodes
  # without the "mirror" role never take replicas either.
  disabled: false
  # How long a holder may be gone before another node fetches its
  # replicas (repair).
  grace: 30s
  # How often holdings are advertised and placement is re-checked.
  interval: 5s
  # Free bytes offered for replicas (placement weight); 0: the free space
  # of the store's file system.
  capacity: 0
  # Replication factor of a pin that names none, when the policy has no min.
  replicas: 2
  # Placement load bound: no node holds more than (1+balance) times its
  # fair share while another has room. Every node must use the same value.
  balance: 0.1
  # Replications running at once.
  fetches: 2
  # Holders one replication fetches from, nearest first; 0: all of them.
  sources: 0
  # A replication not finished by then is retried at the next interval.
  fetch_timeout: 30m0s

provenance:
  # Refuse manifests no publisher key signed (signatures present must
  # verify either way).
  require_signed: false
  # Publisher keys (cairn-org:…) whose signatures count; empty: the
  # organisation keys this node trusts.
  publishers: []
  # PEM public keys and root certificates trusted for OpenSSF model
  # signing bundles (model.sig) that come with a repo.
  signing_keys: []
  signing_roots: []
`
