package sovereignty

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkDecide measures one decision on the block-serving path against a
// policy of 50 rules where the repo matches late, beside the sha256 of one
// 1 MiB block (the cost the decision rides on) measured in the same run.
func BenchmarkDecide(b *testing.B) {
	b.Run("rules=2", func(b *testing.B) { benchDecide(b, issue5Policy) })
	var doc strings.Builder
	doc.WriteString(issue5Policy[:strings.Index(issue5Policy, "repos:")])
	doc.WriteString("repos:\n")
	for i := range 48 {
		fmt.Fprintf(&doc, "  - match: \"team%d/*-v?\"\n    hold: [DE]\n    receive: [DE, FR]\n", i)
	}
	doc.WriteString("  - match: \"acme/*\"\n    hold: [DE]\n    receive: [DE]\n    prompts: [EU]\n  - match: \"*\"\n    receive: [EU]\n")
	b.Run("rules=50", func(b *testing.B) { benchDecide(b, doc.String()) })
}

func benchDecide(b *testing.B, doc string) {
	e, _ := engineWith(b, doc)
	members := []*Member{member("DE"), member("FR"), member("US")}
	for _, m := range members {
		e.Decide(Receive, "acme/llama-3-8b@main", m)
	}

	block := make([]byte, 1<<20)
	start := time.Now()
	const hashes = 20
	for range hashes {
		sha256.Sum256(block)
	}
	shaNs := float64(time.Since(start).Nanoseconds()) / hashes

	b.ReportAllocs()
	b.ResetTimer()
	allowed := 0
	for i := 0; b.Loop(); i++ {
		if e.Decide(Receive, "acme/llama-3-8b@main", members[i%3]).Allow {
			allowed++
		}
	}
	b.StopTimer()
	if allowed == 0 {
		b.Fatal("no decision allowed")
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(shaNs, "sha256-1MiB-ns")
	b.ReportMetric(100*perOp/shaNs, "%-of-block-hash")
}
