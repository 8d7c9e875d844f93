package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/internal/cpu"
	"github.com/ipfs/go-cid"
)

// BenchmarkSwarm: N nodes (CAIRN_BENCH_NODES, default 20) fetch one file
// of S bytes (CAIRN_BENCH_SIZE, default 64 MiB) at once from an origin
// that holds it, every node (the origin too) capped at U upload
// (CAIRN_BENCH_UPLOAD, default 16MiB per second), all in this process on
// 127.0.0.1. Run, e.g.:
//
//	CAIRN_BENCH_NODES=20 go test -run '^$' -bench Swarm -benchtime 1x ./p2p/fetch
//
// It reports origin copies (bytes the origin served ÷ S), the p50 and
// p99 completion times beside the ideal S ÷ U, and checks every node's
// sha256 of the file. The whole swarm shares this machine's cores, so it
// also reports its CPU (cpu_s, cpu_ms_per_MiB received), what the rest of
// the machine ran meanwhile (others_cores), the least time the swarm's
// CPU work takes on the cores left (cpu_floor_s), p99 against the larger
// of that and S ÷ U (p99_x_floor), and the share of the nodes' upload
// capacity used (upload_used). CAIRN_BENCH_TRACE=1 logs upload use and
// progress every half second; CAIRN_BENCH_HEAP=FILE writes a heap profile
// halfway.
func BenchmarkSwarm(b *testing.B) {
	n := 20
	if s := os.Getenv("CAIRN_BENCH_NODES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("CAIRN_BENCH_NODES=%q: want a positive count", s)
		}
	}
	up := int64(16 << 20)
	if s := os.Getenv("CAIRN_BENCH_UPLOAD"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			b.Fatalf("CAIRN_BENCH_UPLOAD=%q: want bytes per second", s)
		}
		up = v
	}
	size := benchSize(b)
	syn := newSynth(size)
	for range b.N {
		b.StopTimer()
		origin := newSwarmNode(b, up, nil)
		res := importReader(b, origin.st, syn, size, benchLeaf)
		want := fileSHA(b, origin, res)
		var recv []*swarmNode
		for range n {
			recv = append(recv, newSwarmNode(b, up, nil))
		}
		meshed(b, append([]*swarmNode{origin}, recv...))
		b.StartTimer()
		m0 := machineBusy()
		u0, s0 := cpu.Used()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		stopTrace := traceSwarm(b, res.CID, origin, recv, up)
		errs, took := fetchAll(ctx, res.CID, origin, recv)
		stopTrace()
		cancel()
		u1, s1 := cpu.Used()
		m1 := machineBusy()
		b.StopTimer()
		for i, r := range recv {
			if errs[i] != nil {
				b.Fatalf("node %d: %v", i, errs[i])
			}
			if got := fileSHA(b, r, res); !bytes.Equal(got, want) {
				b.Fatalf("node %d: sha256 differs", i)
			}
		}
		slices.Sort(took)
		p50, p99 := took[len(took)/2], took[min(len(took)-1, len(took)*99/100)]
		ideal := time.Duration(float64(size) / float64(up) * float64(time.Second))
		copies := float64(origin.served()) / float64(size)
		b.ReportMetric(copies, "origin_copies")
		b.ReportMetric(p50.Seconds(), "p50_s")
		b.ReportMetric(p99.Seconds(), "p99_s")
		b.ReportMetric(ideal.Seconds(), "ideal_s")
		b.ReportMetric(p99.Seconds()/ideal.Seconds(), "p99_x_ideal")
		// CPU of the whole swarm (every node is in this process): on a
		// shared VM, completion times beside it say whether the machine
		// or the schedule set them.
		cpuUsed := (u1 - u0 + s1 - s0).Seconds()
		b.ReportMetric(cpuUsed, "cpu_s")
		// What the rest of the machine ran meanwhile, in cores: on a
		// shared VM, the CPU this swarm could not have.
		var wall time.Duration
		if len(took) > 0 {
			wall = took[len(took)-1]
		}
		if m1 > m0 && wall > 0 {
			others := ((m1 - m0).Seconds() - cpuUsed) / wall.Seconds()
			b.ReportMetric(others, "others_cores")
			// The least time this swarm's CPU work takes on the cores
			// the rest of the machine left it: p99 near it says the
			// machine, not the schedule, set the pace.
			if avail := float64(runtime.NumCPU()) - others; avail > 0.05 {
				floor := cpuUsed / avail
				b.ReportMetric(floor, "cpu_floor_s")
				b.ReportMetric(p99.Seconds()/max(floor, ideal.Seconds()), "p99_x_floor")
			}
		}
		// The ideal at the upload the swarm achieved: every byte a
		// receiver got left some node's upload.
		if wall > 0 {
			achieved := float64(size) * float64(n) / wall.Seconds()
			b.ReportMetric(achieved/float64(up*int64(n+1)), "upload_used")
			b.ReportMetric(cpuUsed*1e3/float64(int64(n)*size>>20), "cpu_ms_per_MiB")
		}
		b.Logf("%d nodes, %d MiB, %d MiB/s upload each: origin sent %.2f copies; p50 %v, p99 %v, ideal S/U %v; %d sha256 checked",
			n, size>>20, up>>20, copies, p50.Round(time.Millisecond), p99.Round(time.Millisecond), ideal, n)
	}
}

// fileSHA is the sha256 of the file under res as node n's store holds it.
func fileSHA(tb testing.TB, n *swarmNode, res chunker.FileResult) []byte {
	tb.Helper()
	r, err := chunker.NewReader(context.Background(), n.st, res.CID)
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		tb.Fatal(err)
	}
	return h.Sum(nil)
}

// traceSwarm, with CAIRN_BENCH_TRACE set, logs every half second the
// swarm's upload (all nodes, and the origin's) against its capacity and
// how far the receivers are: where a slow swarm loses its time.
func traceSwarm(b *testing.B, root cid.Cid, origin *swarmNode, recv []*swarmNode, up int64) func() {
	if os.Getenv("CAIRN_BENCH_TRACE") == "" {
		return func() {}
	}
	done := make(chan struct{})
	fin := make(chan struct{})
	go func() {
		defer close(fin)
		const tick = 500 * time.Millisecond
		t := time.NewTicker(tick)
		defer t.Stop()
		t0 := time.Now()
		var lastAll, lastOrigin int64
		heapDone := false
		capacity := float64(up) * tick.Seconds() * float64(len(recv)+1)
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			all, o := origin.served(), origin.served()
			var have []int
			for _, r := range recv {
				all += r.served()
				n := -1
				if hs := r.haves.Lookup(root); hs != nil {
					n, _ = hs.Count()
				}
				have = append(have, n)
			}
			slices.Sort(have)
			busy := 0
			for _, r := range recv {
				if r.srv.listing.Load() > 0 {
					busy++
				}
			}
			b.Logf("t=%4.1fs upload %5.1f%% of capacity, origin %5.1f%% of its own; leaves held min %d p50 %d max %d; origin requests %d, receivers serving %d",
				time.Since(t0).Seconds(), 100*float64(all-lastAll)/capacity,
				100*float64(o-lastOrigin)/(float64(up)*tick.Seconds()), have[0], have[len(have)/2], have[len(have)-1], origin.srv.listing.Load(), busy)
			lastAll, lastOrigin = all, o
			if hp := os.Getenv("CAIRN_BENCH_HEAP"); hp != "" && have[len(have)/2] >= 32 && !heapDone {
				heapDone = true
				if f, err := os.Create(hp); err == nil {
					_ = pprof.WriteHeapProfile(f)
					_ = f.Close()
				}
			}
		}
	}()
	return func() { close(done); <-fin }
}

// machineBusy is the CPU time every process on the machine used (user,
// nice, system, irq, softirq, steal in /proc/stat); 0 where unknown.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ 100
}
