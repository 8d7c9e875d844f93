package replicate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnhub/cairn/internal/testnet"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/replicate"
	"github.com/cairnhub/cairn/sovereignty"
)

// cluster is a testnet whose nodes each run a replicator with the
// residency engine (no policy) and an audit log in the node's folder.
type cluster struct {
	t   *testing.T
	ctx context.Context
	net *testnet.Net
	cfg replicate.Config
	svc map[*testnet.Node]*replicate.Service
}

func newCluster(t *testing.T, cfg replicate.Config) *cluster {
	return &cluster{t: t, ctx: t.Context(), net: testnet.New(t), cfg: cfg, svc: map[*testnet.Node]*replicate.Service{}}
}

// puller is testnet's Pull as the replicator calls it.
type puller struct{ nd *testnet.Node }

func (p puller) Pull(ctx context.Context, kind manifest.Kind, repo, rev string, maxSources int) (replicate.Pulled, error) {
	r, err := p.nd.Pull(ctx, kind, repo, rev, maxSources)
	return replicate.Pulled{Manifest: r.Manifest, Local: r.Local, Bytes: r.Bytes}, err
}

func (c *cluster) add(name, juris string, roles ...string) *testnet.Node {
	c.t.Helper()
	return c.net.Add(testnet.NodeOptions{Name: name, Jurisdiction: juris, Roles: roles, Setup: c.setup})
}

// setup builds and runs a node's replicator; it runs again on restart.
func (c *cluster) setup(nd *testnet.Node) error {
	audit, err := sovereignty.OpenAudit(filepath.Join(nd.Dir, "audit.log"))
	if err != nil {
		return err
	}
	nd.Go(func(ctx context.Context) error {
		<-ctx.Done()
		return audit.Close()
	})
	trust, err := sovereignty.NewTrust(sovereignty.OrgPublicKey(c.net.Org))
	if err != nil {
		return err
	}
	svc, err := replicate.New(nd.Host.Libp2p(), replicate.Deps{
		Self: nd.Member, Store: nd.Store, Members: nd.Host, Policy: sovereignty.NewEngine(trust, audit),
		Puller: puller{nd}, Audit: audit, StateFile: filepath.Join(nd.Dir, replicate.PinsFile), Logger: nd.Log,
	}, c.cfg)
	if err != nil {
		return err
	}
	c.svc[nd] = svc
	nd.Go(svc.Run)
	return nil
}

// settle waits until every running replicator has made passes more
// placement passes: time for a wrong fetch or release to start.
func (c *cluster) settle(passes uint64) {
	c.t.Helper()
	want := map[*testnet.Node]uint64{}
	for _, nd := range c.net.Nodes() {
		if nd.Running() {
			want[nd] = c.svc[nd].Passes() + passes
		}
	}
	testnet.Eventually(c.t, testnet.WaitTimeout, "replicators settled", func() (bool, string) {
		for nd, w := range want {
			if got := c.svc[nd].Passes(); got < w {
				return false, fmt.Sprintf("%s made %d passes, want %d", nd.Name(), got, w)
			}
		}
		return true, ""
	})
}

// converged waits until every running node sees key met, held by n
// live nodes: every node heard every holder's holdings.
func (c *cluster) converged(kind manifest.Kind, repo, rev string, n int) {
	c.t.Helper()
	testnet.Eventually(c.t, testnet.WaitTimeout, "every node sees the same holders", func() (bool, string) {
		for _, nd := range c.net.Nodes() {
			if !nd.Running() {
				continue
			}
			st, err := c.svc[nd].Status(c.ctx, kind, repo, rev)
			live := 0
			for _, h := range st.Holders {
				if !h.Gone {
					live++
				}
			}
			if err != nil || !st.Met || live != n {
				return false, fmt.Sprintf("%s sees %d live holders, met %v, problems %v, err %v", nd.Name(), live, st.Met, st.Problems, err)
			}
		}
		return true, ""
	})
}

func auditEntries(t *testing.T, nd *testnet.Node, kind string) []sovereignty.Entry {
	t.Helper()
	es, err := sovereignty.Tail(filepath.Join(nd.Dir, "audit.log"), 10000)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return slices.DeleteFunc(es, func(e sovereignty.Entry) bool { return e.Kind != kind })
}

var fastReplication = replicate.Config{Grace: time.Second, Interval: 200 * time.Millisecond, Capacity: 1 << 40, FetchTimeout: 5 * time.Second}

// Factor 3 over five eligible nodes places 3 replicas; when a holder is
// closed, a fourth node takes over within the grace period plus fetch
// time; when it comes back, the surplus replica is released.
func TestReplicateRepair(t *testing.T) {
	if testing.Short() {
		t.Skip("six nodes: not in -short")
	}
	c := newCluster(t, fastReplication)
	pub := c.add("publisher", "DE", "edge")
	var mirrors []*testnet.Node
	for i := range 5 {
		mirrors = append(mirrors, c.add(fmt.Sprintf("m%d", i), "DE", "mirror"))
	}
	c.net.WaitMesh()
	m := pub.AddRepo(t, "acme/model", 512<<10)
	in, err := c.svc[pub].Pin(c.ctx, manifest.Model, "acme/model", "main", 3)
	if err != nil {
		t.Fatal(err)
	}
	if in.Commit != m.Commit || in.Replicas != 3 {
		t.Errorf("Pin = %+v, want commit %s and factor 3", in, m.Commit)
	}
	holders := func() []*testnet.Node {
		var hs []*testnet.Node
		for _, n := range mirrors {
			if n.Holds(manifest.Model, "acme/model", "main", m.Commit) {
				hs = append(hs, n)
			}
		}
		return hs
	}
	testnet.Eventually(t, testnet.WaitTimeout, "3 replicas", func() (bool, string) {
		return len(holders()) == 3, fmt.Sprintf("%d holders", len(holders()))
	})
	// Stable: once every node sees the 3 replicas and the publisher's
	// copy, no fourth copy appears.
	c.converged(manifest.Model, "acme/model", "main", 4)
	c.settle(5)
	hs := holders()
	if len(hs) != 3 {
		t.Fatalf("%d mirror holders after settling, want 3", len(hs))
	}
	st, err := c.svc[pub].Status(c.ctx, manifest.Model, "acme/model", "main")
	if err != nil || !st.Met || len(st.Target) != 3 {
		t.Errorf("status = %+v, %v; want met with 3 targets", st, err)
	}

	victim := hs[0]
	lost := time.Now()
	victim.Stop()
	var taker *testnet.Node
	testnet.Eventually(t, fastReplication.Grace+testnet.WaitTimeout, "repair", func() (bool, string) {
		now := holders()
		for _, n := range now {
			if !slices.Contains(hs, n) {
				taker = n
			}
		}
		return len(now) == 3 && taker != nil, fmt.Sprintf("holders %d", len(now))
	})
	took := time.Since(lost)
	t.Logf("repair: %s took over %s's replica %s after its loss (grace %s)", taker.Name(), victim.Name(), took.Round(time.Millisecond), fastReplication.Grace)
	// The ref is committed just before the audit entry is written.
	testnet.Eventually(t, testnet.WaitTimeout, "repair audited", func() (bool, string) {
		rep := auditEntries(t, taker, sovereignty.KindRepair)
		return len(rep) == 1 && strings.Contains(rep[0].Reason, victim.ID.String()), fmt.Sprintf("%s repair entries = %+v, want one naming %s", taker.Name(), rep, victim.ID)
	})
	for _, n := range hs[1:] {
		if es := auditEntries(t, n, sovereignty.KindRelease); len(es) != 0 {
			t.Errorf("%s released during the repair: %+v", n.Name(), es)
		}
	}

	// The lost holder returns with its replica: one replica is surplus,
	// and exactly one node releases it.
	victim.Start()
	if !victim.Holds(manifest.Model, "acme/model", "main", m.Commit) {
		t.Fatalf("%s lost its replica over a restart", victim.Name())
	}
	testnet.Eventually(t, testnet.WaitTimeout, "surplus released", func() (bool, string) {
		now := holders()
		return len(now) == 3, fmt.Sprintf("%d holders", len(now))
	})
	testnet.Eventually(t, testnet.WaitTimeout, "one release audited", func() (bool, string) {
		released := 0
		for _, n := range mirrors {
			released += len(auditEntries(t, n, sovereignty.KindRelease))
		}
		return released == 1, fmt.Sprintf("%d releases, want 1", released)
	})
	c.converged(manifest.Model, "acme/model", "main", 4)
	c.settle(5)
	if n := len(holders()); n != 3 {
		t.Errorf("%d holders after the release settled, want 3", n)
	}
	// The returned node hears every holder's holdings.
	testnet.Eventually(t, testnet.WaitTimeout, "status after return", func() (bool, string) {
		st, err = c.svc[victim].Status(c.ctx, manifest.Model, "acme/model", "main")
		return err == nil && len(st.Holders) >= 3, fmt.Sprintf("%+v, %v", st, err)
	})

	// Unpin: every replica the replicator made is released; the
	// publisher's own copy stays.
	if err := c.svc[pub].Unpin(c.ctx, manifest.Model, "acme/model", "main"); err != nil {
		t.Fatal(err)
	}
	testnet.Eventually(t, testnet.WaitTimeout, "replicas released after unpin", func() (bool, string) {
		return len(holders()) == 0, fmt.Sprintf("%d holders", len(holders()))
	})
	if !pub.Holds(manifest.Model, "acme/model", "main", m.Commit) {
		t.Error("the publisher's own copy went with the unpin")
	}
}

func TestRecordIntent(t *testing.T) {
	path := filepath.Join(t.TempDir(), replicate.PinsFile)
	i := replicate.Intent{Kind: manifest.Model, Repo: "acme/m", Revision: "main", Replicas: 2, Version: 5, By: "x"}
	if err := replicate.RecordIntent(path, i); err != nil {
		t.Fatal(err)
	}
	old := i
	old.Version, old.Replicas = 4, 9
	if err := replicate.RecordIntent(path, old); err != nil {
		t.Fatal(err)
	}
	got, err := replicate.LoadIntents(path)
	if err != nil || len(got) != 1 || got[0] != i {
		t.Errorf("LoadIntents = %+v, %v; want only the newer %+v", got, err, i)
	}
	if err := replicate.RecordIntent(path, replicate.Intent{Kind: manifest.Model, Repo: "bad", Revision: "main", Version: 1}); err == nil {
		t.Error("RecordIntent accepted an invalid repo")
	}
}

func TestConfig(t *testing.T) {
	c := replicate.Config{}.WithDefaults()
	if c.Grace != replicate.DefaultGrace || c.Replicas != replicate.DefaultReplicas || c.Balance != replicate.DefaultBalance ||
		c.Interval != replicate.DefaultInterval || c.Fetches != replicate.DefaultFetches || c.FetchTimeout != replicate.DefaultFetchTimeout {
		t.Errorf("defaults = %+v", c)
	}
	for _, tt := range []struct {
		c    replicate.Config
		want string
	}{
		{replicate.Config{Grace: -1}, "grace"},
		{replicate.Config{Interval: -1}, "interval"},
		{replicate.Config{Capacity: -1}, "capacity"},
		{replicate.Config{Replicas: replicate.MaxReplicas + 1}, "replicas"},
		{replicate.Config{Balance: 11}, "balance"},
		{replicate.Config{Fetches: -1}, "fetches"},
		{replicate.Config{Sources: -1}, "sources"},
		{replicate.Config{FetchTimeout: -1}, "fetch_timeout"},
	} {
		if err := tt.c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tt.c, err, tt.want)
		}
	}
	if err := (replicate.Config{}).Validate(); err != nil {
		t.Errorf("Validate(zero) = %v", err)
	}
}
