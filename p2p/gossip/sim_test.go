package gossip

import (
	"context"
	"flag"
	"testing"
)

var (
	simNodes    = flag.Int("sim.nodes", 100, "nodes in BenchmarkGossip")
	simDegree   = flag.Int("sim.degree", 8, "average connections per node in BenchmarkGossip")
	simHoldings = flag.Int("sim.holdings", 300, "run the holdings round up to this many nodes")
)

// A small simulated network: one policy change and one holdings round reach
// every node, and every node ends with the same view.
func TestSimulateSmall(t *testing.T) {
	r, err := Simulate(context.Background(), SimConfig{Nodes: 20, Degree: 4, Holdings: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Policy.Reached != 20 || r.Holdings == nil || r.Holdings.Reached != 20 || !r.SameView {
		t.Fatalf("policy %v; holdings %v; same view %v", r.Policy, r.Holdings, r.SameView)
	}
	if r.Policy.Copies == 0 || r.Policy.Bytes == 0 {
		t.Fatalf("nothing counted: %v", r.Policy)
	}
}

// BenchmarkGossip prints, for a policy change on a simulated network with
// 50 ms links (and a holdings round up to -sim.holdings nodes), the time for
// nodes to have it and what each node sent. The mock network runs on this
// machine's CPU: figures taken while other work loads it come out slower.
//
//	go test -run XXX -bench Gossip -benchtime 1x ./p2p/gossip/ -sim.nodes 1000
func BenchmarkGossip(b *testing.B) {
	for range b.N {
		r, err := Simulate(context.Background(), SimConfig{Nodes: *simNodes, Degree: *simDegree, Holdings: *simNodes <= *simHoldings})
		if err != nil {
			b.Logf("partial: policy %v; holdings %v; lowest score %.0f, %d rejected", r.Policy, r.Holdings, r.MinScore, r.Rejected)
			b.Fatal(err)
		}
		b.Logf("%d nodes, %d connections, setup %v, lowest score %.0f, %d rejected", r.Nodes, r.Edges, r.Setup.Round(1e6), r.MinScore, r.Rejected)
		b.Logf("policy change: %v", r.Policy)
		if r.Holdings != nil {
			b.Logf("holdings round: %v; same view on every node: %v", *r.Holdings, r.SameView)
		}
		b.ReportMetric(float64(r.Policy.P99.Milliseconds()), "p99-ms")
		b.ReportMetric(r.Policy.RPCs, "rpcs/node")
	}
}
