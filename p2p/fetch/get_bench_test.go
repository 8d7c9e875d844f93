package fetch

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/internal/cpu"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// BenchmarkGet is what a daemon's `cairn get --out` does, in one process:
// a client and a server that share have-sets (as a daemon's do), a file
// cut by content (as `cairn add` cuts it), and an Assembler that hashes
// the file and writes it out while its blocks arrive. Run, e.g.:
//
//	CAIRN_BENCH_SIZE=512MiB go test -run '^$' -bench 'Get$' -benchtime 1x ./p2p/fetch
//
// It reports MB/s beside crypto/sha256 over the same bytes (x_sha256) and
// the CPU of both ends in sha256 passes.
func BenchmarkGet(b *testing.B) {
	size := benchSize(b)
	syn := newSynth(size)
	src := newStore(b)
	res, err := chunker.ImportFile(context.Background(), src, syn, size, "data.bin", chunker.Options{Strategy: chunker.CDC})
	if err != nil {
		b.Fatal(err)
	}
	// The source's blocks stay on disk, not in the page cache, as in a
	// daemon that just imported the file (the store writes past the page
	// cache and reads a block it does not cache past it too).
	file := manifest.File{Path: "data.bin", CID: res.CID, Size: res.Size, SHA256: hex.EncodeToString(res.SHA256[:])}
	srv := newHost(b, "tcp")
	server, err := NewServer(srv, src, allowAll, ServerConfig{Haves: NewHaves()})
	if err != nil {
		b.Fatal(err)
	}
	server.Register()
	h := newHost(b, "tcp")
	connect(b, h, srv)
	for _, mode := range []string{"out", "check", "store", "null"} {
		b.Run(mode, func(b *testing.B) { getRun(b, h, srv.ID(), file, syn, mode) })
	}
}

// getRun is one mode of BenchmarkGet: "out" as `cairn get --out`, "check"
// without the output file, "store" without the Assembler, "null" without
// the store (calibrations that say where the time goes).
func getRun(b *testing.B, h host.Host, from peer.ID, file manifest.File, syn *synth, mode string) {
	size := file.Size
	sha := &shaMeter{buf: syn.base}
	var elapsed, used time.Duration
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		st, err := store.Open(store.Options{Dir: filepath.Join(dir, "store")})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		sha.measure()
		b.StartTimer()
		u0, s0 := cpu.Used()
		t0 := time.Now()
		getOnce(b, h, st, from, file, filepath.Join(dir, "out"), mode)
		elapsed += time.Since(t0)
		u1, s1 := cpu.Used()
		used += u1 - u0 + s1 - s0
		b.StopTimer()
		sha.measure()
		st.Close()
		os.RemoveAll(dir)
	}
	report(b, size, elapsed, used, sha)
}

// getOnce fetches file's DAG into st with an Assembler writing it into
// out, as a daemon's pull does.
func getOnce(b *testing.B, h host.Host, st *store.Store, from peer.ID, file manifest.File, out, mode string) {
	b.Helper()
	haves := NewHaves()
	var bs Blocks = st
	if mode == "null" {
		bs = &nullStore{}
	}
	c, err := NewClientConfig(h, bs, ClientConfig{Haves: haves})
	if err != nil {
		b.Fatal(err)
	}
	if mode == "store" || mode == "null" {
		if _, err := c.Fetch(context.Background(), file.CID, []peer.ID{from}, Options{}); err != nil {
			b.Fatal(err)
		}
		return
	}
	if mode == "check" {
		out = ""
	}
	asm := ingest.NewAssembler(st, []manifest.File{file}, ingest.AssembleOptions{Out: out, Window: 256 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var aerr error
	wg.Go(func() {
		if aerr = asm.Run(ctx); aerr != nil {
			cancel()
		}
	})
	_, err = c.Fetch(ctx, file.CID, []peer.ID{from}, Options{OnBlock: asm.Block, Check: asm.Check})
	asm.FetchDone(err)
	wg.Wait()
	if err != nil || aerr != nil {
		b.Fatalf("get: fetch %v, assemble %v", err, aerr)
	}
}
