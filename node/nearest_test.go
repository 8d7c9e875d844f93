package node

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/sovereignty"
)

// farOneWay is the delay the proxy in front of the far replica adds in
// each direction: a 70 ms round trip against loopback's fraction of one.
const farOneWay = 35 * time.Millisecond

// extraWeights is the size of the repo's file beside the GGUF.
const extraWeights = 8 << 20

// TestEdgePullsFromNearestReplica: two mirrors hold the same model, one
// behind a link with injected latency; an edge node without a copy pulls
// it, most bytes come from the near mirror, and the model it loads
// generates llama.cpp's greedy text.
func TestEdgePullsFromNearestReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("three daemons and a delaying proxy: not in -short")
	}
	fixtureModel := fixture.Path(t, fixture.Model)
	fixtureExpected := fixture.Path(t, fixture.Expected)
	expected, err := os.ReadFile(fixtureExpected)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "=== OUTPUT ===\n"
	i := bytes.Index(expected, []byte(marker))
	if i < 0 {
		t.Fatalf("%s: no %q line", fixtureExpected, strings.TrimSpace(marker))
	}
	wantText := strings.TrimRight(string(expected[i+len(marker):]), "\n")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	key, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := sovereignty.FormatOrgPublicKey(sovereignty.OrgPublicKey(key))
	join := func(n *Node, juris, role string) {
		t.Helper()
		cert, err := sovereignty.Issue(key, sovereignty.Certificate{Org: "acme", PeerID: n.ID.String(), Region: "r-" + strings.ToLower(juris),
			Jurisdiction: juris, Roles: []string{role}, Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Join(cert, pub); err != nil {
			t.Fatal(err)
		}
	}
	near, far, edge := openTestNode(t), openTestNode(t), openTestNode(t)
	join(near, "DE", "mirror")
	join(far, "JP", "mirror")
	join(edge, "DE", "edge")

	// The repo: the GGUF and 8 MiB of other weights (incompressible,
	// seeded), so that the fetch has about 40 pieces to share out and the
	// far mirror's one-piece allowance is a small part of the whole. Both
	// mirrors add the same files: the same commit, so both are sources of
	// one pull.
	repoDir := t.TempDir()
	gguf, err := os.ReadFile(fixtureModel)
	if err != nil {
		t.Fatal(err)
	}
	other := make([]byte, extraWeights)
	rand.NewChaCha8([32]byte{6}).Read(other)
	if err := os.WriteFile(filepath.Join(repoDir, "stories260K.gguf"), gguf, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repoDir, "original.bin"), other, 0o644); err != nil {
		t.Fatal(err)
	}
	var commits []string
	var file manifest.File
	var total int64
	for _, n := range []*Node{near, far} {
		res, err := ingest.Add(ctx, n.Store, repoDir, ingest.AddOptions{Repo: "acme/stories"})
		if err != nil {
			t.Fatal(err)
		}
		commits = append(commits, res.Manifest.Commit)
		total = 0
		for _, f := range res.Manifest.Files {
			total += f.Size
			if f.Path == "stories260K.gguf" {
				file = f
			}
		}
	}
	if file.SHA256 == "" {
		t.Fatal("the manifest lists no stories260K.gguf")
	}
	if commits[0] != commits[1] {
		t.Fatalf("mirrors hold commits %v; want one commit on both", commits)
	}

	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() }) // registered first: runs after every Close below
	start := func(n *Node, bootstrap []string) *Daemon {
		t.Helper()
		d, err := n.StartDaemon(ctx, DaemonOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: bootstrap, HTTPAddr: "127.0.0.1:0", Logger: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); wg.Wait(); d.Close() })
		wg.Go(func() { d.Run(ctx) })
		return d
	}
	dNear := start(near, nil)
	dFar := start(far, nil)
	proxy := delayingProxy(t, dFar.Host.Addrs()[0], farOneWay)
	farVia := proxy.Encapsulate(ma.StringCast("/p2p/" + far.ID.String()))
	dEdge := start(edge, []string{dNear.Host.Addrs()[0].String(), farVia.String()})

	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := dEdge.WaitForPeers(wctx, 2); err != nil {
		t.Fatal(err)
	}
	checkFarViaProxy := func(when string) {
		t.Helper()
		conns := dEdge.Host.Libp2p().Network().ConnsToPeer(far.ID)
		if len(conns) == 0 {
			t.Fatalf("%s: edge has no connection to the far mirror", when)
		}
		for _, c := range conns {
			if !c.RemoteMultiaddr().Equal(proxy) {
				t.Fatalf("%s: edge reaches the far mirror at %s, not only through the proxy %s: no latency injected", when, c.RemoteMultiaddr(), proxy)
			}
		}
	}
	checkFarViaProxy("before the pull")

	// The daemon pings members every 30 s; ping now so that the pull
	// ranks them by measured round trips, as a running edge node would.
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	h := dEdge.Host.Libp2p()
	for dEdge.Host.RTT(far.ID) <= farOneWay || dEdge.Host.RTT(near.ID) == 0 {
		for _, p := range []peer.ID{near.ID, far.ID} {
			pctx, pcancel := context.WithCancel(rctx) // ping.Ping pings until its context ends
			if res := <-ping.Ping(pctx, h, p); res.Error != nil && rctx.Err() == nil {
				t.Logf("ping %s: %v", p, res.Error)
			}
			pcancel()
		}
		if rctx.Err() != nil {
			t.Fatalf("round trips not measured within 10s: near %v, far %v", dEdge.Host.RTT(near.ID), dEdge.Host.RTT(far.ID))
		}
	}
	if rn, rf := dEdge.Host.RTT(near.ID), dEdge.Host.RTT(far.ID); rn >= rf {
		t.Fatalf("measured RTT near %v, far %v; want near < far", rn, rf)
	}
	if ps := dEdge.Host.Peers(); len(ps) != 2 || ps[0].ID != near.ID {
		t.Fatalf("Peers() = %v; want the near mirror first of two", ps)
	}

	if _, err := edge.Store.Resolve(ctx, manifest.Model, "acme/stories", "main"); err == nil {
		t.Fatal("the edge holds the model before the pull")
	}
	pr, err := dEdge.Pull(ctx, manifest.Model, "acme/stories", "main", pull.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkFarViaProxy("after the pull")
	st := pr.Stats
	if pr.Local || pr.Manifest.Commit != commits[0] {
		t.Fatalf("Pull = local %v, commit %s; want a fetch of %s", pr.Local, pr.Manifest.Commit, commits[0])
	}
	if st.Bytes < total {
		t.Errorf("pull fetched %d bytes, want at least the files' %d", st.Bytes, total)
	}
	byPeer := map[peer.ID]int64{}
	rtts := map[peer.ID]time.Duration{}
	for _, p := range st.Peers {
		rtts[p.ID] = p.RTT
		// Both mirrors took part: the far one was live and could serve,
		// so the split is the scheduler's choice.
		if p.Err != "" {
			t.Errorf("peer %s dropped from the fetch: %s", p.ID, p.Err)
		}
		byPeer[p.ID] += p.Bytes
	}
	if len(st.Peers) != 2 {
		t.Fatalf("fetch sources = %+v; want both mirrors", st.Peers)
	}
	t.Logf("pull: %d bytes in %v; near %d bytes (rtt %v), far %d bytes (rtt %v)", st.Bytes, st.Duration.Round(time.Millisecond),
		byPeer[near.ID], dEdge.Host.RTT(near.ID).Round(10*time.Microsecond), byPeer[far.ID], dEdge.Host.RTT(far.ID).Round(time.Millisecond))
	want := nearShare(rtts[near.ID], rtts[far.ID], st.Bytes)
	if share := float64(byPeer[near.ID]) / float64(st.Bytes); share < want {
		t.Errorf("near mirror delivered %.0f%% of the bytes (%+v), want at least %.0f%%", 100*share, st.Peers, 100*want)
	}

	// The edge answers from its pulled copy: the materialised file loads
	// and generates llama.cpp's greedy text.
	path, err := dEdge.Models().Locate(ctx, "acme/stories")
	if err != nil {
		t.Fatal(err)
	}
	if got := fileSHA256(t, path); got != file.SHA256 {
		t.Fatalf("materialised %s has sha256 %s, want %s", path, got, file.SHA256)
	}
	m, err := inference.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	req := inference.Request{Prompt: "Once upon a time", MaxTokens: 64}
	res, err := m.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Tokenizer().Decode(m.PromptTokens(req)) + res.Text; got != wantText {
		t.Errorf("edge generated %q\nwant %q", got, wantText)
	}
}

// nearShare is the least share of total bytes the near peer carries,
// at most 80%, by p2p/fetch's documented policy for the round trips the
// fetch ranked by: the far peer weighs (5ms+near)/(5ms+far) against the
// near one's 1 and may run one piece (total/32 for two peers, at least
// 256 KiB) ahead of its share. On an idle machine loopback's round trip
// is a fraction of a millisecond and the bound is 80%; a loaded one
// measures tens of milliseconds there, and the far peer fairly gets more.
func nearShare(near, far time.Duration, total int64) float64 {
	const floor = 5 * time.Millisecond
	w := float64(floor+near) / float64(floor+far)
	piece := max(total/32, 256<<10)
	return min(0.8, 1/(1+w)-float64(piece)/float64(total))
}

// delayingProxy forwards TCP connections to target, holding every chunk
// for oneWay in each direction (a link with 2×oneWay round trip and
// loopback bandwidth). It returns the multiaddr to dial instead of target.
func delayingProxy(t *testing.T, target ma.Multiaddr, oneWay time.Duration) ma.Multiaddr {
	t.Helper()
	ip, err := target.ValueForProtocol(ma.P_IP4)
	if err != nil {
		t.Fatalf("proxy target %s: %v", target, err)
	}
	port, err := target.ValueForProtocol(ma.P_TCP)
	if err != nil {
		t.Fatalf("proxy target %s: %v", target, err)
	}
	taddr := net.JoinHostPort(ip, port)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		open = append(open, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c)
			wg.Go(func() {
				d, err := net.Dial("tcp", taddr)
				if err != nil {
					c.Close()
					return
				}
				track(d)
				wg.Go(func() { delayCopy(d, c, oneWay) })
				delayCopy(c, d, oneWay)
			})
		}
	})
	a, err := ma.NewMultiaddr("/ip4/127.0.0.1/tcp/" + listenPort(ln))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func listenPort(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// delayCopy copies src to dst, each read delivered delay after it arrived;
// it closes both when either side ends.
func delayCopy(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	q := make(chan chunk, 1024)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 64<<10)
			n, err := src.Read(b)
			if n > 0 {
				select {
				case q <- chunk{due: time.Now().Add(delay), data: b[:n]}:
				case <-done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer dst.Close()
	defer src.Close()
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := dst.Write(c.data); err != nil {
			return
		}
	}
}
