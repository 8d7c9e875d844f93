package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnhub/cairn/store"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// runStorePut times PutMany alone: size bytes of distinct 1 MiB blocks in
// batches, from several goroutines, no hashing (the CIDs are made up). It
// shows what the store costs an import.
func runStorePut(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("storeput", flag.ExitOnError)
	sizeS := fs.String("size", "1GiB", "bytes to put")
	vlog := fs.Int64("vlog", 0, "store ValueLogFileSize (0: the store default)")
	batch := fs.Int("batch", 8, "blocks (1 MiB each) per PutMany")
	conc := fs.Int("conc", 1, "goroutines calling PutMany")
	fs.Parse(args)
	size, err := parseSize(*sizeS)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "cairn-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	st, err := store.Open(store.Options{Dir: filepath.Join(work, "store"), ValueLogFileSize: *vlog})
	if err != nil {
		return err
	}
	defer st.Close()
	data := make([]byte, *batch<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sampler := startRSSSampler()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i*int64(*batch)<<20 >= size {
					return
				}
				bs := make([]blocks.Block, *batch)
				for j := range bs {
					var d [34]byte
					d[0], d[1] = mh.SHA2_256, 32
					d[2], d[3], d[4], d[5], d[6] = byte(i), byte(i>>8), byte(i>>16), byte(j), byte(j>>8)
					b, _ := blocks.NewBlockWithCid(data[j<<20:(j+1)<<20], cid.NewCidV1(cid.Raw, d[:]))
					bs[j] = b
				}
				if err := st.PutMany(ctx, bs); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	took := time.Since(start)
	anon, file := sampler()
	fmt.Printf("store PutMany   %8.0f MB/s  (%d bytes in %v, %d MiB batches from %d goroutines; peak RSS anon %d MiB, file %d MiB)\n", mbps(size, took), size, took.Round(time.Millisecond), *batch, *conc, anon>>20, file>>20)
	return nil
}
