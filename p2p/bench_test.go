package p2p

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// BenchmarkBitswapFetch moves 64 blocks of 1 MiB from one member to another over
// loopback with bitswap (TCP or QUIC, whichever libp2p picks), and reports MB/s
// beside crypto/sha256 over the same bytes, the reference the figures use.
func BenchmarkBitswapFetch(b *testing.B) {
	const nblocks, size = 64, 1 << 20
	acme := newOrgB(b, "acme")
	src := memStore()
	var cids []cid.Cid
	var all []byte
	for range nblocks {
		buf := make([]byte, size)
		_, _ = rand.Read(buf)
		blk := blocks.NewBlock(buf)
		if err := src.Put(context.Background(), blk); err != nil {
			b.Fatal(err)
		}
		cids = append(cids, blk.Cid())
		all = append(all, buf...)
	}
	a := benchNode(b, acme, nodeOpts{store: src})
	start := time.Now()
	sum := 0
	for range 4 {
		s := sha256.Sum256(all)
		sum += int(s[0])
	}
	shaMBs := float64(4*len(all)) / time.Since(start).Seconds() / 1e6

	b.SetBytes(int64(len(all)))
	b.ResetTimer()
	var moved time.Duration
	for range b.N {
		b.StopTimer()
		dst := benchNode(b, acme, nodeOpts{})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := dst.Connect(ctx, a.AddrInfo()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		ch, err := dst.Bitswap().GetBlocks(ctx, cids)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for blk := range ch {
			if err := dst.deps.Blockstore.Put(ctx, blk); err != nil {
				b.Fatal(err)
			}
			n++
		}
		moved += time.Since(t0)
		b.StopTimer()
		cancel()
		if n != nblocks {
			b.Fatalf("got %d blocks, want %d", n, nblocks)
		}
		_ = dst.Close()
	}
	mbs := float64(b.N*len(all)) / moved.Seconds() / 1e6
	b.ReportMetric(mbs, "bitswap-MB/s")
	b.ReportMetric(shaMBs, "sha256-MB/s")
	b.ReportMetric(mbs/shaMBs, "x-sha256")
}
