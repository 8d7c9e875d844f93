package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/internal/cpu"
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
// sha256 of the file.
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
		u0, s0 := cpu.Used()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		errs, took := fetchAll(ctx, res.CID, origin, recv)
		cancel()
		u1, s1 := cpu.Used()
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
		b.ReportMetric((u1 - u0 + s1 - s0).Seconds(), "cpu_s")
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
