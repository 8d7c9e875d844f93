package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cairnhub/cairn/store"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// runStorePut times PutMany alone: size bytes of distinct 1 MiB blocks in
// batches of 8, no hashing (the CIDs are made up). It shows what the store
// costs an import.
func runStorePut(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("storeput", flag.ExitOnError)
	sizeS := fs.String("size", "1GiB", "bytes to put")
	vlog := fs.Int64("vlog", 0, "store ValueLogFileSize (0: the store default)")
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
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sampler := startRSSSampler()
	start := time.Now()
	var n int64
	for i := 0; n < size; i++ {
		bs := make([]blocks.Block, 8)
		for j := range bs {
			var d [34]byte
			d[0], d[1] = mh.SHA2_256, 32
			d[2], d[3], d[4], d[5] = byte(i), byte(i>>8), byte(i>>16), byte(j)
			b, _ := blocks.NewBlockWithCid(data[j<<20:(j+1)<<20], cid.NewCidV1(cid.Raw, d[:]))
			bs[j] = b
		}
		if err := st.PutMany(ctx, bs); err != nil {
			return err
		}
		n += 8 << 20
	}
	took := time.Since(start)
	anon, file := sampler()
	fmt.Printf("store PutMany   %8.0f MB/s  (%d bytes in %v; peak RSS anon %d MiB, file %d MiB)\n", mbps(n, took), n, took.Round(time.Millisecond), anon>>20, file>>20)
	return nil
}
