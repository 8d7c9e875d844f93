package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/catalog"
	"github.com/cairnhub/cairn/p2p/fetch"
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
	cfg   ReplicationConfig
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

func newTestCluster(t *testing.T, cfg ReplicationConfig) *testCluster {
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
	home := filepath.Join(c.t.TempDir(), name)
	if _, err := Init(home); err != nil {
		c.t.Fatal(err)
	}
	tn := &testNode{name: name, home: home, juris: juris}
	c.t.Cleanup(tn.stop) // before TempDir's removal (cleanups run last first)
	n, err := LoadHome(home)
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

// eventually polls cond every 50ms until it holds or the timeout ends.
func (c *testCluster) eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	tk := time.NewTicker(50 * time.Millisecond)
	defer tk.Stop()
	last := ""
	for {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		select {
		case <-ctx.Done():
			c.t.Fatalf("%s: not reached within %s: %s", what, timeout, last)
		case <-tk.C:
		}
	}
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
	dir := t.TempDir()
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + len(repo))
	}
	os.WriteFile(filepath.Join(dir, "weights.bin"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"repo":"`+repo+`"}`), 0o644)
	res, err := ingest.Add(t.Context(), n.Store, dir, ingest.AddOptions{Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	return res.Manifest
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
	es, err := sovereignty.Tail(filepath.Join(tn.home, AuditFile), 10000)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return slices.DeleteFunc(es, func(e sovereignty.Entry) bool { return e.Kind != kind })
}

var fastReplication = ReplicationConfig{Grace: time.Second, Interval: 200 * time.Millisecond, Capacity: 1 << 40, FetchTimeout: 5 * time.Second}

// A repo restricted to DE is replicated onto DE nodes only, never served to
// an FR node (catalog, bulk fetch, bitswap), each refusal audited; then a
// policy change (FR may hold one replica) takes effect on every node.
func TestReplicateResidency(t *testing.T) {
	if testing.Short() {
		t.Skip("five daemons: not in -short")
	}
	c := newTestCluster(t, fastReplication)
	de1 := c.add("de1", "DE", "mirror")
	de2 := c.add("de2", "DE", "mirror")
	de3 := c.add("de3", "DE", "mirror")
	fr1 := c.add("fr1", "FR", "mirror")
	fr2 := c.add("fr2", "FR", "mirror")
	c.waitMesh()
	c.setPolicy(de1, `
repos:
  - match: "acme/*"
    hold: [DE]
    receive: [DE]
    replicas: {min: 3, max: 3}
  - match: "*"
    hold: ["*"]
    receive: ["*"]
`, 1)
	m := addRepo(t, de1.n, "acme/secret", 300<<10)
	if _, err := de1.r.Pin(c.ctx, manifest.Model, "acme/secret", "main", 0); err != nil {
		t.Fatal(err)
	}
	des := []*testNode{de1, de2, de3}
	c.eventually(20*time.Second, "3 DE replicas", func() (bool, string) {
		for _, n := range des {
			if !n.holds("acme/secret", m.Commit) {
				return false, n.name + " lacks it"
			}
		}
		return true, ""
	})
	// Every node knows the intent; status on an FR node sees it met.
	c.eventually(10*time.Second, "status met from fr1", func() (bool, string) {
		st, err := fr1.r.Status(c.ctx, manifest.Model, "acme/secret", "main")
		if err != nil {
			return false, err.Error()
		}
		return st.Met && st.Intent != nil && len(st.Holders) == 3, fmt.Sprintf("%+v", st)
	})
	for _, n := range []*testNode{fr1, fr2} {
		if n.holds("acme/secret", m.Commit) {
			t.Errorf("%s (FR) holds acme/secret", n.name)
		}
		if es := auditEntries(t, n, sovereignty.KindReplicate); len(es) != 0 {
			t.Errorf("%s (FR) audit has replications: %+v", n.name, es)
		}
	}
	if es := auditEntries(t, de2, sovereignty.KindReplicate); len(es) != 1 || es[0].Repo != "acme/secret@main" {
		t.Errorf("de2 replicate entries = %+v, want one for acme/secret@main", es)
	}

	// FR asks DE directly: the manifest protocol refuses, the bulk fetch
	// refuses, bitswap sends nothing; FR's own Pull refuses to hold it.
	deID := de1.d.Host.ID()
	_, err := catalog.Ask(c.ctx, fr1.d.Host.Libp2p(), deID, catalog.Query{Kind: manifest.Model, Repo: "acme/secret", Revision: "main"})
	if !errors.Is(err, catalog.ErrRefused) || !strings.Contains(err.Error(), "FR") {
		t.Errorf("catalog.Ask by FR = %v, want refused naming FR", err)
	}
	fctx, fcancel := context.WithTimeout(c.ctx, 5*time.Second)
	if _, err := fr1.d.Client.Fetch(fctx, m.Root, []peerID{deID}, fetch.Options{}); err == nil {
		t.Error("bulk fetch by FR succeeded")
	}
	fcancel()
	bctx, bcancel := context.WithTimeout(c.ctx, 2*time.Second)
	if _, err := fr2.d.Host.GetBlock(bctx, m.Files[0].CID); err == nil {
		t.Error("bitswap gave FR a block of acme/secret")
	}
	bcancel()
	if _, err := fr2.d.Pull(c.ctx, manifest.Model, "acme/secret", "main", PullOptions{QueryTimeout: 3 * time.Second}); err == nil || !strings.Contains(err.Error(), "may not hold") {
		t.Errorf("Pull by FR = %v, want a policy refusal", err)
	}
	c.eventually(5*time.Second, "refusals audited", func() (bool, string) {
		var peers []string
		for _, n := range des {
			for _, e := range auditEntries(t, n, sovereignty.KindDeny) {
				if e.Repo == "acme/secret" || strings.HasPrefix(e.Repo, "acme/secret@") {
					peers = append(peers, e.Peer)
				}
			}
		}
		fr1s := slices.Contains(peers, fr1.id())
		fr2s := slices.Contains(peers, fr2.id())
		return fr1s && fr2s, fmt.Sprintf("deny entries on DE nodes name %v; want fr1 %s (catalog, fetch) and fr2 %s (bitswap)", peers, fr1.id(), fr2.id())
	})
	if es := auditEntries(t, fr2, sovereignty.KindDeny); len(es) == 0 || !strings.Contains(es[len(es)-1].Reason, "FR") {
		t.Errorf("fr2's own refusal to hold not audited: %+v", es)
	}
	if !fr1.holds("acme/secret", m.Commit) && fr1.n.Store != nil {
		if _, err := fr1.n.Store.Resolve(c.ctx, manifest.Model, "acme/secret", "main"); err == nil {
			t.Error("fr1 has acme/secret after refusals")
		}
	}

	// Policy v2: FR may hold and receive, and one replica must be in FR.
	c.setPolicy(fr2, `
repos:
  - match: "acme/*"
    hold: [DE, FR]
    receive: [DE, FR]
    replicas: {min: 3, max: 3, in: {FR: 1}}
  - match: "*"
    hold: ["*"]
    receive: ["*"]
`, 2)
	c.eventually(20*time.Second, "an FR replica after the policy change", func() (bool, string) {
		fr := 0
		for _, n := range []*testNode{fr1, fr2} {
			if n.holds("acme/secret", m.Commit) {
				fr++
			}
		}
		st, _ := de3.r.Status(c.ctx, manifest.Model, "acme/secret", "main")
		// Placement may pick both FR nodes for the two places beyond
		// the quota; at least one is the policy.
		return fr >= 1 && st.Met, fmt.Sprintf("%d FR holders; status from de3 %+v", fr, st)
	})
}

type peerID = peer.ID

func mustCID(t *testing.T) cid.Cid {
	t.Helper()
	h, err := multihash.Sum([]byte("root"), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.DagProtobuf, h)
}

// Factor 3 over five eligible nodes places 3 replicas; when a holder is
// closed, a fourth node takes over within the grace period plus fetch
// time; when it comes back, the surplus replica is released.
func TestReplicateRepair(t *testing.T) {
	if testing.Short() {
		t.Skip("six daemons: not in -short")
	}
	c := newTestCluster(t, fastReplication)
	pub := c.add("publisher", "DE", "edge")
	var mirrors []*testNode
	for i := range 5 {
		mirrors = append(mirrors, c.add(fmt.Sprintf("m%d", i), "DE", "mirror"))
	}
	c.waitMesh()
	m := addRepo(t, pub.n, "acme/model", 512<<10)
	in, err := pub.r.Pin(c.ctx, manifest.Model, "acme/model", "main", 3)
	if err != nil {
		t.Fatal(err)
	}
	if in.Commit != m.Commit || in.Replicas != 3 {
		t.Errorf("Pin = %+v, want commit %s and factor 3", in, m.Commit)
	}
	holders := func() []*testNode {
		var hs []*testNode
		for _, n := range mirrors {
			if n.holds("acme/model", m.Commit) {
				hs = append(hs, n)
			}
		}
		return hs
	}
	c.eventually(20*time.Second, "3 replicas", func() (bool, string) {
		return len(holders()) == 3, fmt.Sprintf("%d holders", len(holders()))
	})
	// Stable: no fourth copy appears.
	time.Sleep(5 * fastReplication.Interval)
	hs := holders()
	if len(hs) != 3 {
		t.Fatalf("%d mirror holders after settling, want 3", len(hs))
	}
	st, err := pub.r.Status(c.ctx, manifest.Model, "acme/model", "main")
	if err != nil || !st.Met || len(st.Target) != 3 {
		t.Errorf("status = %+v, %v; want met with 3 targets", st, err)
	}

	victim := hs[0]
	lost := time.Now()
	victim.stop()
	var taker *testNode
	c.eventually(fastReplication.Grace+20*time.Second, "repair", func() (bool, string) {
		now := holders()
		for _, n := range now {
			if !slices.Contains(hs, n) {
				taker = n
			}
		}
		return len(now) == 3 && taker != nil, fmt.Sprintf("holders %d", len(now))
	})
	took := time.Since(lost)
	t.Logf("repair: %s took over %s's replica %s after its loss (grace %s)", taker.name, victim.name, took.Round(time.Millisecond), fastReplication.Grace)
	// The ref is committed just before the audit entry is written.
	c.eventually(5*time.Second, "repair audited", func() (bool, string) {
		rep := auditEntries(t, taker, sovereignty.KindRepair)
		return len(rep) == 1 && strings.Contains(rep[0].Reason, victim.id()), fmt.Sprintf("%s repair entries = %+v, want one naming %s", taker.name, rep, victim.id())
	})
	for _, n := range hs[1:] {
		if es := auditEntries(t, n, sovereignty.KindRelease); len(es) != 0 {
			t.Errorf("%s released during the repair: %+v", n.name, es)
		}
	}

	// The lost holder returns with its replica: one replica is surplus,
	// and exactly one node releases it.
	c.start(victim)
	if !victim.holds("acme/model", m.Commit) {
		t.Fatalf("%s lost its replica over a restart", victim.name)
	}
	c.eventually(20*time.Second, "surplus released", func() (bool, string) {
		now := holders()
		return len(now) == 3, fmt.Sprintf("%d holders", len(now))
	})
	c.eventually(5*time.Second, "one release audited", func() (bool, string) {
		released := 0
		for _, n := range mirrors {
			released += len(auditEntries(t, n, sovereignty.KindRelease))
		}
		return released == 1, fmt.Sprintf("%d releases, want 1", released)
	})
	time.Sleep(5 * fastReplication.Interval)
	if n := len(holders()); n != 3 {
		t.Errorf("%d holders after the release settled, want 3", n)
	}
	st, err = victim.r.Status(c.ctx, manifest.Model, "acme/model", "main")
	if err != nil || len(st.Holders) < 3 {
		t.Errorf("status after return = %+v, %v", st, err)
	}

	// Unpin: every replica the replicator made is released; the
	// publisher's own copy stays.
	if err := pub.r.Unpin(c.ctx, manifest.Model, "acme/model", "main"); err != nil {
		t.Fatal(err)
	}
	c.eventually(20*time.Second, "replicas released after unpin", func() (bool, string) {
		return len(holders()) == 0, fmt.Sprintf("%d holders", len(holders()))
	})
	if !pub.holds("acme/model", m.Commit) {
		t.Error("the publisher's own copy went with the unpin")
	}
}

// A manifest whose signature does not verify is refused: the holder does
// not serve it, a puller does not commit it, and both are audited; with
// require_signed, unsigned manifests are refused and signed ones pass.
func TestReplicateProvenance(t *testing.T) {
	if testing.Short() {
		t.Skip("three daemons: not in -short")
	}
	c := newTestCluster(t, fastReplication)
	a := c.add("a", "DE", "mirror")
	b := c.add("b", "DE", "mirror")
	c.waitMesh()

	good := addRepo(t, a.n, "acme/good", 64<<10)
	if err := SignManifest(good, c.org); err != nil {
		t.Fatal(err)
	}
	if err := a.n.Store.Commit(c.ctx, good, "main", nil); err != nil {
		t.Fatal(err)
	}
	bad := addRepo(t, a.n, "acme/bad", 64<<10)
	if err := SignManifest(bad, c.org); err != nil {
		t.Fatal(err)
	}
	bad.Signatures[0].Sig[0] ^= 1
	if err := a.n.Store.Commit(c.ctx, bad, "main", nil); err != nil {
		t.Fatal(err)
	}
	unsigned := addRepo(t, a.n, "acme/unsigned", 64<<10)

	if _, err := b.d.Pull(c.ctx, manifest.Model, "acme/good", "main", PullOptions{}); err != nil {
		t.Errorf("Pull(signed) = %v", err)
	}
	if m, err := b.n.Store.Resolve(c.ctx, manifest.Model, "acme/good", "main"); err != nil || len(m.Signatures) != 1 {
		t.Errorf("pulled signed manifest = %+v, %v; want its signature kept", m, err)
	}
	if _, err := b.d.Pull(c.ctx, manifest.Model, "acme/unsigned", "main", PullOptions{}); err != nil {
		t.Errorf("Pull(unsigned) with the default config = %v", err)
	}
	_, err := b.d.Pull(c.ctx, manifest.Model, "acme/bad", "main", PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("Pull(bad signature) = %v, want a refusal naming the signature", err)
	}
	if _, err := b.n.Store.Resolve(c.ctx, manifest.Model, "acme/bad", "main"); err == nil {
		t.Error("the badly signed revision was committed")
	}
	if es := auditEntries(t, a, "provenance"); len(es) == 0 || es[0].Repo != "acme/bad@"+bad.Commit {
		t.Errorf("holder's provenance entries = %+v, want the refusal to serve acme/bad", es)
	}

	// A node requiring signatures: unsigned refused (audited on that
	// node, the puller), signed accepted.
	strict := c.addWith("strict", "DE", ClusterConfig{Replication: fastReplication, Provenance: ProvenanceConfig{RequireSigned: true}}, "mirror")
	c.waitMesh()
	_, err = strict.d.Pull(c.ctx, manifest.Model, "acme/unsigned", "main", PullOptions{})
	if !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "not signed by a trusted publisher") {
		t.Errorf("strict Pull(unsigned) = %v, want refused: not signed", err)
	}
	if es := auditEntries(t, strict, "provenance"); len(es) == 0 {
		t.Error("strict node did not audit the unsigned manifest")
	}
	if _, err := strict.d.Pull(c.ctx, manifest.Model, "acme/good", "main", PullOptions{}); err != nil {
		t.Errorf("strict Pull(signed by the org) = %v", err)
	}
	_ = unsigned
}

// addWith is add with replication and provenance settings written to
// config.yaml before the daemon starts.
func (c *testCluster) addWith(name, juris string, cfg ClusterConfig, roles ...string) *testNode {
	c.t.Helper()
	home := filepath.Join(c.t.TempDir(), name)
	if _, err := Init(home); err != nil {
		c.t.Fatal(err)
	}
	if err := SaveClusterConfig(home, cfg); err != nil {
		c.t.Fatal(err)
	}
	n, err := LoadHome(home)
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
	tn := &testNode{name: name, home: home, juris: juris, own: true}
	c.t.Cleanup(tn.stop)
	c.start(tn)
	c.nodes = append(c.nodes, tn)
	return tn
}

func TestVerifyManifest(t *testing.T) {
	k1, _ := sovereignty.GenerateOrgKey()
	k2, _ := sovereignty.GenerateOrgKey()
	base := &manifest.Manifest{Version: 1, Type: manifest.Model, Repo: "acme/m", Commit: strings.Repeat("ab", 20), Created: time.UnixMilli(1).UTC(), Files: []manifest.File{}}
	base.Root = mustCID(t)
	signed := func(keys ...ed25519.PrivateKey) *manifest.Manifest {
		m := *base
		m.Signatures = nil
		for _, k := range keys {
			if err := SignManifest(&m, k); err != nil {
				t.Fatal(err)
			}
		}
		return &m
	}
	tampered := signed(k1)
	tampered.Repo = "acme/other"
	pubs := []ed25519.PublicKey{sovereignty.OrgPublicKey(k1)}
	for _, tt := range []struct {
		name    string
		m       *manifest.Manifest
		require bool
		signers int
		err     string
	}{
		{"unsigned accepted", signed(), false, 0, ""},
		{"unsigned required", signed(), true, 0, "not signed by a trusted publisher"},
		{"publisher", signed(k1), true, 1, ""},
		{"other key only", signed(k2), true, 0, "not signed by a trusted publisher"},
		{"other key accepted unsigned-like", signed(k2), false, 0, ""},
		{"both", signed(k1, k2), true, 1, ""},
		{"tampered", tampered, false, 0, "does not verify"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := VerifyManifest(tt.m, pubs, tt.require)
			if tt.err == "" {
				if err != nil || len(s) != tt.signers {
					t.Errorf("VerifyManifest = %v, %v; want %d signers", s, err, tt.signers)
				}
				return
			}
			if !errors.Is(err, ErrProvenance) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("VerifyManifest = %v, want ErrProvenance naming %q", err, tt.err)
			}
		})
	}
	// Re-signing with the same key replaces the signature.
	m := signed(k1)
	SignManifest(m, k1)
	if len(m.Signatures) != 1 {
		t.Errorf("re-signed: %d signatures, want 1", len(m.Signatures))
	}
	if _, err := m.Encode(); err != nil {
		t.Errorf("signed manifest does not encode: %v", err)
	}
}

func TestRecordIntent(t *testing.T) {
	home := t.TempDir()
	i := replicate.Intent{Kind: manifest.Model, Repo: "acme/m", Revision: "main", Replicas: 2, Version: 5, By: "x"}
	if err := RecordIntent(home, i); err != nil {
		t.Fatal(err)
	}
	old := i
	old.Version, old.Replicas = 4, 9
	if err := RecordIntent(home, old); err != nil {
		t.Fatal(err)
	}
	got, err := LoadIntents(home)
	if err != nil || len(got) != 1 || got[0] != i {
		t.Errorf("LoadIntents = %+v, %v; want only the newer %+v", got, err, i)
	}
	if err := RecordIntent(home, replicate.Intent{Kind: manifest.Model, Repo: "bad", Revision: "main", Version: 1}); err == nil {
		t.Error("RecordIntent accepted an invalid repo")
	}
}

func TestClusterConfig(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, err string
	}{
		{"empty", "", ""},
		{"full", "replication:\n  grace: 2s\n  interval: 1s\n  replicas: 3\n  capacity: 1000\nprovenance:\n  require_signed: true\n", ""},
		{"unknown key", "replication:\n  nope: 1\n", "nope"},
		{"negative grace", "replication:\n  grace: -1s\n", "grace"},
		{"bad publisher", "provenance:\n  publishers: [xyz]\n", "publishers[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			os.WriteFile(filepath.Join(home, ConfigFile), []byte(tt.yaml), 0o644)
			_, err := LoadClusterConfig(home)
			if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("LoadClusterConfig(%q) = %v, want error naming %q", tt.yaml, err, tt.err)
			}
		})
	}
	c := ReplicationConfig{}.WithDefaults()
	if c.Grace != replicate.DefaultGrace || c.Replicas != replicate.DefaultReplicas || c.Balance != replicate.DefaultBalance {
		t.Errorf("defaults = %+v", c)
	}
}
