package sovereignty

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
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

// BenchmarkAuditVerify measures verifying a log of 10 000 entries with a
// checkpoint every 100 (a busy node's minute), beside the same log with no
// checkpoints verified in the same run: the cost checkpoints add to
// `cairn audit verify`.
func BenchmarkAuditVerify(b *testing.B) {
	k := newKey(b)
	write := func(every int) string {
		p := filepath.Join(b.TempDir(), "audit.log")
		syncFile = func(*os.File) error { return nil }
		defer func() { syncFile = (*os.File).Sync }()
		a, err := OpenAuditWith(p, AuditOptions{Signer: KeySigner(k), Node: peerA})
		if err != nil {
			b.Fatal(err)
		}
		for i := range 10000 {
			a.Append(Entry{Kind: KindDeny, Subject: "receive", Peer: peerB, Repo: fmt.Sprintf("acme/m%d", i), Reason: "jurisdiction FR not in receive [DE]"})
			if every > 0 && i%every == every-1 {
				a.Checkpoint()
			}
		}
		a.f.Close() // no final checkpoint: both logs end alike
		return p
	}
	plain, signed := write(0), write(100)
	const refRuns = 5
	start := time.Now()
	for range refRuns {
		if _, err := VerifyAuditLog(plain, VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	plainNs := float64(time.Since(start).Nanoseconds()) / refRuns
	b.ResetTimer()
	for b.Loop() {
		r, err := VerifyAuditLog(signed, VerifyOptions{Key: OrgPublicKey(k)})
		if err != nil || r.Checkpoints != 100 {
			b.Fatal(r, err)
		}
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(plainNs/1e6, "no-checkpoints-ms")
	b.ReportMetric(perOp/plainNs, "x-no-checkpoints")
}
