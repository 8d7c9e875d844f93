package gossip

import (
	"testing"
	"time"
)

// A small simulated network: one policy change and one holdings round reach
// every node, every node ends with the same view, and the times are those
// of the simulated links (at least one link latency), whatever this
// machine's load.
func TestSimulateSmall(t *testing.T) {
	r, err := Simulate(t, SimConfig{Nodes: 20, Degree: 4, Holdings: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Policy.Reached != 20 || r.Holdings == nil || r.Holdings.Reached != 20 || !r.SameView {
		t.Fatalf("policy %v; holdings %v; same view %v", r.Policy, r.Holdings, r.SameView)
	}
	if r.Policy.Copies == 0 || r.Policy.Bytes == 0 {
		t.Fatalf("nothing counted: %v", r.Policy)
	}
	// Simulated time: no node has a message before one link latency, and
	// on 20 nodes every node has it within the 2 s target, however
	// loaded this machine is.
	for _, x := range []Round{r.Policy, *r.Holdings} {
		if x.P50 < 50*time.Millisecond || x.Max > 2*time.Second {
			t.Errorf("simulated times p50 %v, max %v: want at least one 50 ms link, at most 2 s", x.P50, x.Max)
		}
	}
	t.Logf("policy %v; holdings %v; wall %v", r.Policy, *r.Holdings, r.Wall)
}
