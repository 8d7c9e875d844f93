package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/p2p/gossip"
	"github.com/cairnhub/cairn/replicate"
)

// runGossip simulates the control plane (p2p/gossip's code on go-libp2p's
// mock network, in simulated time) at 100 nodes and at -nodes, and prints
// for a policy change and a holdings round the time for every node to have
// it and what each node sent, and whether every node computes the same
// placement of -pins revisions from the holdings it heard.
//
// gossip.Simulate runs in a testing/synctest bubble, which needs a
// *testing.T: the sizes run as one test through testing.Main, the entry
// the testing package keeps for programs that run tests themselves. It
// exits the process when the test ends (status 1 when a size failed).
func runGossip(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gossip", flag.ContinueOnError)
	nodes := fs.Int("nodes", 1000, "nodes of the large network (the small one has 100)")
	degree := fs.Int("degree", 8, "connections per node on average")
	latency := fs.Duration("latency", 50*time.Millisecond, "one-way link latency")
	pins := fs.Int("pins", 10_000, "pinned revisions placed from each node's view")
	replicas := fs.Int("replicas", 3, "replicas per pinned revision")
	holdings := fs.Bool("holdings", true, "run the holdings round and the placement check (at 1,000 nodes: 10^6 signed deliveries, most of the wall time)")
	rate := fs.Float64("rate", 10, "holdings summaries published per second (simulated) in the holdings round (every node once)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rate <= 0 {
		return fmt.Errorf("gossip: -rate %v: want > 0", *rate)
	}
	sizes := []int{100}
	if *nodes != 100 {
		sizes = append(sizes, *nodes)
	}
	// The bubble cannot take a context from outside: an interrupt ends
	// the process.
	go func() {
		<-ctx.Done()
		fmt.Fprintln(os.Stderr, "bench: gossip interrupted")
		os.Exit(130)
	}()
	fmt.Printf("gossip simulation: mock network in simulated time (testing/synctest), %v links, degree %d, holdings at %.1f/s, %d pinned revisions x %d replicas\n", *latency, *degree, *rate, *pins, *replicas)
	run := func(t *testing.T) {
		var rows []gossipRow
		for _, n := range sizes {
			spread := time.Duration(float64(n) / *rate * float64(time.Second))
			row, err := simulateOnce(t, gossip.SimConfig{Nodes: n, Degree: *degree, Latency: *latency, Spread: spread, Holdings: *holdings}, *pins, *replicas)
			if err != nil {
				fmt.Printf("%d nodes: %v (partial: policy %v; holdings %v; wall %v)\n", n, err, row.res.Policy, row.res.Holdings, row.res.Wall.Round(time.Millisecond))
				t.Fatal(err)
			}
			rows = append(rows, row)
			row.print()
		}
		if len(rows) == 2 {
			printGrowth(rows[0].res, rows[1].res)
		}
	}
	testing.Main(func(string, string) (bool, error) { return true, nil },
		[]testing.InternalTest{{Name: "GossipSimulation", F: run}}, nil, nil)
	return nil // not reached: testing.Main exits
}

func printGrowth(a, b gossip.SimResult) {
	fmt.Printf("growth %d -> %d nodes (x%.0f): policy p99 x%.2f, messages/node x%.2f, bytes/node x%.2f; wall x%.1f\n",
		a.Nodes, b.Nodes, float64(b.Nodes)/float64(a.Nodes),
		ratio(b.Policy.P99, a.Policy.P99), b.Policy.RPCs/a.Policy.RPCs, b.Policy.Bytes/a.Policy.Bytes, ratio(b.Wall, a.Wall))
	if a.Holdings != nil && b.Holdings != nil {
		fmt.Printf("  holdings p99 x%.2f, RPCs/node per summary x%.2f, bytes/node x%.2f\n",
			ratio(b.Holdings.P99, a.Holdings.P99), b.Holdings.PerMessage/a.Holdings.PerMessage, b.Holdings.Bytes/a.Holdings.Bytes)
	}
}

type gossipRow struct {
	res           gossip.SimResult
	views         int // distinct holdings views among the nodes
	samePlacement bool
	placeTime     time.Duration
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, 1)) }

func (r gossipRow) print() {
	p, h := r.res.Policy, r.res.Holdings
	fmt.Printf("%d nodes, %d connections (simulated setup %v, lowest peer score %.0f, %d rejected; wall time %v)\n",
		r.res.Nodes, r.res.Edges, r.res.Setup.Round(time.Millisecond), r.res.MinScore, r.res.Rejected, r.res.Wall.Round(time.Millisecond))
	fmt.Printf("  policy change: reached %d/%d, simulated p50 %v p99 %v; per node %.1f messages (RPCs), %.1f copies, %.0f bytes\n",
		p.Reached, r.res.Nodes, p.P50.Round(time.Millisecond), p.P99.Round(time.Millisecond), p.RPCs, p.Copies, p.Bytes)
	if h == nil {
		return
	}
	fmt.Printf("  holdings round (%d summaries): reached %d/%d, simulated p50 %v p99 %v from each publication; per node %.1f RPCs (%.2f per summary), %.0f bytes\n",
		h.Messages, h.Reached, r.res.Nodes, h.P50.Round(time.Millisecond), h.P99.Round(time.Millisecond), h.RPCs, h.PerMessage, h.Bytes)
	fmt.Printf("  same holdings on every node: %v; distinct views: %d; same placement on every node: %v (placement of one view: %v)\n",
		r.res.SameView, r.views, r.samePlacement, r.placeTime.Round(time.Millisecond))
}

// simulateOnce runs one simulation; each node's view is reduced to a
// fingerprint, and the placement is computed once per distinct view (a
// pure function of the view) and compared.
func simulateOnce(t *testing.T, cfg gossip.SimConfig, pins, replicas int) (gossipRow, error) {
	views := map[[32]byte]map[peer.ID]gossip.Holdings{}
	cfg.Inspect = func(_ int, v map[peer.ID]gossip.Holdings) {
		fp := viewFingerprint(v)
		if _, ok := views[fp]; !ok {
			views[fp] = v
		}
	}
	res, err := gossip.Simulate(t, cfg)
	if err != nil {
		return gossipRow{res: res}, err
	}
	row := gossipRow{res: res, views: len(views), samePlacement: true}
	var first [32]byte
	i := 0
	for _, v := range views {
		t0 := time.Now()
		fp := placementFingerprint(v, pins, replicas)
		row.placeTime = time.Since(t0)
		if i > 0 && fp != first {
			row.samePlacement = false
		}
		first, i = fp, i+1
	}
	return row, nil
}

func viewFingerprint(v map[peer.ID]gossip.Holdings) [32]byte {
	ids := slices.Sorted(func(yield func(peer.ID) bool) {
		for p := range v {
			if !yield(p) {
				return
			}
		}
	})
	h := sha256.New()
	for _, p := range ids {
		x := v[p]
		h.Write([]byte(p))
		h.Write(binary.AppendUvarint(binary.AppendUvarint(nil, x.Seq), x.Capacity))
	}
	return [32]byte(h.Sum(nil))
}

// placementFingerprint places pins revisions on the mirrors of view v
// with replicate's placer and hashes the chosen nodes.
func placementFingerprint(v map[peer.ID]gossip.Holdings, pins, replicas int) [32]byte {
	var nodes []replicate.Node
	for p, h := range v {
		if h.Mirror {
			nodes = append(nodes, replicate.Node{ID: p.String(), Jurisdiction: "DE", Capacity: int64(min(h.Capacity, 1<<62))})
		}
	}
	slices.SortFunc(nodes, func(a, b replicate.Node) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	reqs := make([]replicate.Request, pins)
	for i := range reqs {
		reqs[i] = replicate.Request{Key: fmt.Sprintf("model/sim/r%d@main", i), Target: replicate.Target{Replicas: replicas}}
	}
	h := sha256.New()
	for _, pl := range replicate.NewPlacer(nodes).PlaceAll(reqs) {
		for _, c := range pl.Chosen {
			h.Write([]byte(c))
		}
		h.Write([]byte{0})
	}
	return [32]byte(h.Sum(nil))
}
