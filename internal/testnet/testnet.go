package testnet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/catalog"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// Timeouts of the network's waits.
const (
	// MeshTimeout bounds WaitMesh.
	MeshTimeout = 20 * time.Second
	// WaitTimeout is the usual bound of an Eventually: time for the
	// network to converge on a loaded machine (or under -race), far above
	// what it takes.
	WaitTimeout = 20 * time.Second
	// PollInterval is how often Eventually checks its condition.
	PollInterval = 50 * time.Millisecond
	// QueryTimeout bounds the catalog query of Pull.
	QueryTimeout = 10 * time.Second
)

// Net is a test network of one organisation's nodes in this process.
type Net struct {
	t   testing.TB
	ctx context.Context
	// Org is the organisation's signing key; OrgName its name.
	Org     ed25519.PrivateKey
	OrgName string

	mu    sync.Mutex
	nodes []*Node
}

// New returns an empty network whose nodes stop when t ends.
func New(t testing.TB) *Net {
	t.Helper()
	k, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	return &Net{t: t, ctx: t.Context(), Org: k, OrgName: "acme"}
}

// NodeOptions describe a node's certificate and what runs on it.
type NodeOptions struct {
	// Name names the node in logs and its folder. Required.
	Name string
	// Jurisdiction is the ISO 3166 code on its certificate. Default "DE".
	Jurisdiction string
	// Roles are the certificate's roles ("mirror", "edge"…). Default
	// mirror.
	Roles []string
	// Setup runs on every start (restarts included), after the host, store,
	// catalog and fetch protocols are up and before the node joins the
	// others: register protocols and start services with Node.Go here.
	Setup func(*Node) error
}

// Node is one peer of a Net.
type Node struct {
	net  *Net
	opts NodeOptions
	// Dir is the node's folder (store and whatever Setup keeps there); it
	// outlives Stop, so Start finds the same store.
	Dir string
	// Key is the node's libp2p identity, kept across restarts.
	Key crypto.PrivKey
	// ID is its peer ID; Member its verified certificate.
	ID     peer.ID
	Member *sovereignty.Member
	Log    *slog.Logger

	// Set while the node runs, nil after Stop.
	Host   *p2p.Host
	Store  *store.Store
	Client *fetch.Client

	server *fetch.Server
	ctx    context.Context // ends at Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Add creates a node, starts it and connects it to every running node.
func (n *Net) Add(o NodeOptions) *Node {
	n.t.Helper()
	if o.Jurisdiction == "" {
		o.Jurisdiction = "DE"
	}
	if len(o.Roles) == 0 {
		o.Roles = []string{"mirror"}
	}
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		n.t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		n.t.Fatal(err)
	}
	nd := &Node{net: n, opts: o, Dir: filepath.Join(n.t.TempDir(), o.Name), Key: key, ID: id, Log: logger(o.Name)}
	if err := os.MkdirAll(nd.Dir, 0o755); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(nd.Stop) // before TempDir's removal: cleanups run last first
	n.mu.Lock()
	n.nodes = append(n.nodes, nd)
	n.mu.Unlock()
	nd.Start()
	return nd
}

// logger is silent unless CAIRN_TEST_LOG is set.
func logger(name string) *slog.Logger {
	if os.Getenv("CAIRN_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
}

// Nodes returns the nodes added, running or not.
func (n *Net) Nodes() []*Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Node(nil), n.nodes...)
}

// Running reports whether the node runs (between Start and Stop).
func (nd *Node) Running() bool { return nd.Host != nil }

// Start opens the node's store and starts its host (a restart after
// Stop), runs Setup, and connects to every running node.
func (nd *Node) Start() {
	t := nd.net.t
	t.Helper()
	if nd.Running() {
		t.Fatalf("%s: already running", nd.opts.Name)
	}
	if err := nd.start(); err != nil {
		nd.Stop()
		t.Fatalf("%s: %v", nd.opts.Name, err)
	}
}

func (nd *Node) start() error {
	n := nd.net
	cert, err := sovereignty.Issue(n.Org, sovereignty.Certificate{Org: n.OrgName, PeerID: nd.ID.String(),
		Region: "r-" + strings.ToLower(nd.opts.Jurisdiction), Jurisdiction: nd.opts.Jurisdiction,
		Roles: nd.opts.Roles, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		return err
	}
	trust, err := sovereignty.NewTrust(sovereignty.OrgPublicKey(n.Org))
	if err != nil {
		return err
	}
	if nd.Member, err = trust.VerifyBytes(cert, nd.ID.String(), time.Now()); err != nil {
		return err
	}
	if nd.Store, err = store.Open(store.Options{Dir: filepath.Join(nd.Dir, "store")}); err != nil {
		return err
	}
	hostOpts, err := fetch.HostOptions()
	if err != nil {
		return err
	}
	var boot []string
	for _, o := range n.Nodes() {
		if o != nd && o.Running() {
			boot = append(boot, o.Host.Addrs()[0].String())
		}
	}
	nd.Host, err = p2p.New(n.ctx, p2p.Config{Key: nd.Key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot},
		p2p.Deps{Trust: trust, Certificate: cert, Blockstore: nd.Store, Logger: nd.Log, Options: hostOpts})
	if err != nil {
		return err
	}
	nd.ctx, nd.cancel = context.WithCancel(n.ctx)
	// Members only (the gated host); no residency policy.
	nd.Host.Handle(catalog.ProtocolID, catalog.Handler(nd.Store, func(peer.ID, string) error { return nil }, isNotFound))
	member := func(p peer.ID, _ cid.Cid) error {
		if _, ok := nd.Host.Member(p); !ok {
			return p2p.ErrNotMember
		}
		return nil
	}
	if nd.server, err = fetch.NewServer(nd.Host.Libp2p(), nd.Store, member, fetch.ServerConfig{Logger: nd.Log}); err != nil {
		return err
	}
	nd.Client = fetch.NewClient(nd.Host.Libp2p(), nd.Store)
	nd.Go(nd.server.Run)
	if nd.opts.Setup != nil {
		if err := nd.opts.Setup(nd); err != nil {
			return err
		}
	}
	// Host.Run dials the bootstrap peers: the node joins once it serves.
	nd.Go(nd.Host.Run)
	return nil
}

func isNotFound(err error) bool {
	return errors.Is(err, store.ErrRepoNotFound) || errors.Is(err, store.ErrRevisionNotFound) || errors.Is(err, store.ErrNotFound)
}

// Go runs f until the node stops; Stop waits for it. An error other than
// the context's ends the test.
func (nd *Node) Go(f func(ctx context.Context) error) {
	ctx := nd.ctx
	nd.wg.Add(1)
	go func() {
		defer nd.wg.Done()
		if err := f(ctx); err != nil && ctx.Err() == nil {
			nd.net.t.Errorf("%s: %v", nd.opts.Name, err)
		}
	}()
}

// Stop ends what Go started and closes the host and the store: a crash,
// as far as the other nodes see. Start starts the node again.
func (nd *Node) Stop() {
	if nd.cancel != nil {
		nd.cancel()
		nd.wg.Wait()
		nd.cancel = nil
	}
	if nd.server != nil {
		_ = nd.server.Close()
		nd.server = nil
	}
	if nd.Host != nil {
		_ = nd.Host.Close()
		nd.Host = nil
	}
	if nd.Store != nil {
		_ = nd.Store.Close()
		nd.Store = nil
	}
	nd.Client = nil
}

// WaitMesh waits until every running node sees every other as a member.
func (n *Net) WaitMesh() {
	n.t.Helper()
	var running []*Node
	for _, nd := range n.Nodes() {
		if nd.Running() {
			running = append(running, nd)
		}
	}
	Eventually(n.t, MeshTimeout, "full mesh", func() (bool, string) {
		for _, nd := range running {
			if got := len(nd.Host.Peers()); got < len(running)-1 {
				return false, fmt.Sprintf("%s sees %d of %d members", nd.opts.Name, got, len(running)-1)
			}
		}
		return true, ""
	})
}

// Eventually checks cond every PollInterval until it holds, and fails t
// with cond's last message when timeout passes first.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, msg string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	tk := time.NewTicker(PollInterval)
	defer tk.Stop()
	for {
		ok, msg := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached within %s: %s", what, timeout, msg)
		case <-tk.C:
		}
	}
}

// Pulled is what Pull brought.
type Pulled struct {
	Manifest *manifest.Manifest
	Local    bool  // the store held it already
	Bytes    int64 // fetched from peers
}

// Pull makes kind repo@rev present in the node's store: from the store,
// else from the members that answer the catalog query with the same
// commit (at most maxSources of them, 0: all), every file verified before
// the ref is set. It applies no residency policy.
func (nd *Node) Pull(ctx context.Context, kind manifest.Kind, repo, rev string, maxSources int) (Pulled, error) {
	st, h := nd.Store, nd.Host
	if st == nil {
		return Pulled{}, errors.New("testnet: node stopped")
	}
	if m, err := st.Resolve(ctx, kind, repo, rev); err == nil {
		return Pulled{Manifest: m, Local: true}, nil
	}
	qctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	var m *manifest.Manifest
	var sources []peer.ID
	for _, pi := range h.Peers() {
		a, err := catalog.Ask(qctx, h.Libp2p(), pi.ID, catalog.Query{Kind: kind, Repo: repo, Revision: rev})
		if err != nil || (m != nil && a.Commit != m.Commit) {
			continue
		}
		m = a
		sources = append(sources, pi.ID)
	}
	if m == nil {
		return Pulled{}, fmt.Errorf("testnet: pull %s@%s: no member holds it", repo, rev)
	}
	if maxSources > 0 && len(sources) > maxSources {
		sources = sources[:maxSources]
	}
	stats, err := nd.Client.Fetch(ctx, m.Root, sources, fetch.Options{RTT: h.RTT})
	if err != nil {
		return Pulled{}, fmt.Errorf("testnet: pull %s@%s: %w", repo, rev, err)
	}
	if probs, err := ingest.Verify(ctx, st, m); err != nil || len(probs) > 0 {
		return Pulled{}, fmt.Errorf("testnet: pull %s@%s: verification failed: %v %v", repo, rev, probs, err)
	}
	var all []cid.Cid
	if err := chunker.Walk(ctx, st, m.Root, func(c cid.Cid, _ blocks.Block) error {
		all = append(all, c)
		return nil
	}); err != nil {
		return Pulled{}, err
	}
	if err := st.Commit(ctx, m, rev, all); err != nil {
		return Pulled{}, err
	}
	return Pulled{Manifest: m, Bytes: stats.Bytes}, nil
}

// AddRepo imports a small generated repo (a weights file of size bytes
// and a config) into the node's store as repo@main.
func (nd *Node) AddRepo(t testing.TB, repo string, size int) *manifest.Manifest {
	t.Helper()
	return AddRepo(t, nd.Store, repo, size)
}

// AddRepo imports a small generated repo into st as repo@main: a
// weights file of size bytes, its content a function of the repo name,
// and a config.
func AddRepo(t testing.TB, st ingest.Store, repo string, size int) *manifest.Manifest {
	t.Helper()
	dir := t.TempDir()
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + len(repo))
	}
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"repo":"`+repo+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ingest.Add(t.Context(), st, dir, ingest.AddOptions{Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	return res.Manifest
}

// Holds reports whether the running node has kind repo@rev at commit.
func (nd *Node) Holds(kind manifest.Kind, repo, rev, commit string) bool {
	if nd.Store == nil {
		return false
	}
	m, err := nd.Store.Resolve(context.Background(), kind, repo, rev)
	return err == nil && m.Commit == commit
}

// Name is the node's name.
func (nd *Node) Name() string { return nd.opts.Name }
