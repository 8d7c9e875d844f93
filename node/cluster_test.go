package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnhub/cairn/config"
	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/internal/testnet"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/replicate"
	"github.com/cairnhub/cairn/sovereignty"
)

// testCluster runs real daemons (libp2p on 127.0.0.1, badger stores in
// temp dirs) of one organisation in this process.
type testCluster struct {
	t     *testing.T
	ctx   context.Context
	org   ed25519.PrivateKey
	pub   string
	nodes []*testNode
	cfg   replicate.Config
}

type testNode struct {
	name string
	home string
	n    *Node
	d    *Daemon
	r    *replicate.Service
	// own: the home's config.yaml has the replication section to use
	// (addWith); otherwise the cluster's is used.
	own    bool
	juris  string
	peer   string
	cancel context.CancelFunc
	done   chan struct{}
}

func newTestCluster(t *testing.T, cfg replicate.Config) *testCluster {
	t.Helper()
	k, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	return &testCluster{t: t, ctx: t.Context(), org: k, pub: sovereignty.FormatOrgPublicKey(sovereignty.OrgPublicKey(k)), cfg: cfg}
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// add creates, joins and starts a node; it bootstraps to every running
// node.
func (c *testCluster) add(name, juris string, roles ...string) *testNode {
	c.t.Helper()
	dir := filepath.Join(c.t.TempDir(), name)
	if _, err := home.Init(dir); err != nil {
		c.t.Fatal(err)
	}
	tn := &testNode{name: name, home: dir, juris: juris}
	c.t.Cleanup(tn.stop) // before TempDir's removal (cleanups run last first)
	n, err := LoadHome(dir)
	if err != nil {
		c.t.Fatal(err)
	}
	cert, err := sovereignty.Issue(c.org, sovereignty.Certificate{Org: "acme", PeerID: n.ID.String(), Region: "r-" + strings.ToLower(juris),
		Jurisdiction: juris, Roles: roles, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := n.Join(cert, c.pub); err != nil {
		c.t.Fatal(err)
	}
	c.start(tn)
	c.nodes = append(c.nodes, tn)
	return tn
}

// start opens the node's home and runs its daemon and replicator.
func (c *testCluster) start(tn *testNode) {
	c.t.Helper()
	n, err := Open(c.ctx, tn.home)
	if err != nil {
		c.t.Fatal(err)
	}
	var boot []string
	for _, o := range c.nodes {
		if o != tn && o.d != nil {
			boot = append(boot, o.d.Host.Addrs()[0].String())
		}
	}
	if !tn.own {
		n.Config.Replication = c.cfg
	}
	logger := quietLog
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", tn.name)
	}
	d, err := n.StartDaemon(c.ctx, DaemonOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot, HTTPAddr: "127.0.0.1:0", Logger: logger})
	if err != nil {
		n.Close()
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	tn.n, tn.d, tn.r, tn.cancel, tn.done, tn.peer = n, d, d.Replicator, cancel, make(chan struct{}), n.ID.String()
	go func() { d.Run(ctx); close(tn.done) }()
}

// stop closes the node's daemon and store (a crash, as far as peers see).
func (tn *testNode) stop() {
	if tn.d == nil {
		return
	}
	tn.cancel()
	<-tn.done
	tn.d.Close()
	tn.n.Close()
	tn.d, tn.n, tn.r = nil, nil, nil
}

func (tn *testNode) id() string { return tn.peer }

// waitMesh waits until every running node sees every other.
func (c *testCluster) waitMesh() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	running := 0
	for _, n := range c.nodes {
		if n.d != nil {
			running++
		}
	}
	for _, n := range c.nodes {
		if n.d == nil {
			continue
		}
		if err := n.d.WaitForPeers(ctx, running-1); err != nil {
			c.t.Fatalf("%s: %v", n.name, err)
		}
	}
}

// eventually is testnet.Eventually on the cluster's test.
func (c *testCluster) eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	c.t.Helper()
	testnet.Eventually(c.t, timeout, what, cond)
}

func (c *testCluster) setPolicy(on *testNode, doc string, version uint64) {
	c.t.Helper()
	signed, err := sovereignty.SignPolicy(c.org, []byte(doc), version)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := on.d.SetPolicy(c.ctx, signed); err != nil {
		c.t.Fatal(err)
	}
	c.eventually(10*time.Second, "policy on every node", func() (bool, string) {
		for _, n := range c.nodes {
			if n.d == nil {
				continue
			}
			if p := n.d.Engine.Policy(); p == nil || p.Version != version {
				return false, n.name + " lacks the policy"
			}
		}
		return true, ""
	})
}

// addRepo imports a small repo into the node's store.
func addRepo(t *testing.T, n *Node, repo string, size int) *manifest.Manifest {
	t.Helper()
	return testnet.AddRepo(t, n.Store, repo, size)
}

// holds reports whether the node has repo@main at commit.
func (tn *testNode) holds(repo, commit string) bool {
	if tn.n == nil {
		return false
	}
	m, err := tn.n.Store.Resolve(context.Background(), manifest.Model, repo, "main")
	return err == nil && m.Commit == commit
}

func auditEntries(t *testing.T, tn *testNode, kind string) []sovereignty.Entry {
	t.Helper()
	es, err := sovereignty.Tail(filepath.Join(tn.home, home.AuditFile), 10000)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return slices.DeleteFunc(es, func(e sovereignty.Entry) bool { return e.Kind != kind })
}

var fastReplication = replicate.Config{Grace: time.Second, Interval: 200 * time.Millisecond, Capacity: 1 << 40, FetchTimeout: 5 * time.Second}

// addWith is add with replication and provenance settings written to
// config.yaml before the daemon starts.
func (c *testCluster) addWith(name, juris string, cfg config.Cluster, roles ...string) *testNode {
	c.t.Helper()
	dir := filepath.Join(c.t.TempDir(), name)
	if _, err := home.Init(dir); err != nil {
		c.t.Fatal(err)
	}
	if err := config.SaveCluster(filepath.Join(dir, home.ConfigFile), cfg); err != nil {
		c.t.Fatal(err)
	}
	n, err := LoadHome(dir)
	if err != nil {
		c.t.Fatal(err)
	}
	cert, err := sovereignty.Issue(c.org, sovereignty.Certificate{Org: "acme", PeerID: n.ID.String(), Region: "r", Jurisdiction: juris, Roles: roles, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := n.Join(cert, c.pub); err != nil {
		c.t.Fatal(err)
	}
	tn := &testNode{name: name, home: dir, juris: juris, own: true}
	c.t.Cleanup(tn.stop)
	c.start(tn)
	c.nodes = append(c.nodes, tn)
	return tn
}
