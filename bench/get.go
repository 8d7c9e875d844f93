package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// runGet measures what a user sees, on three daemons of one host: the
// origin holds one file of -size random bytes; `cairn get --out` of it on
// the second daemon (one peer, end to end as typed), beside the fetch
// alone (the daemon's "pulled" line) and one sha256 pass over the same
// bytes in memory (the reference); then, with the second daemon stopped,
// a Hugging Face download of the file from the third daemon, which does
// not hold it (pull-through): time to the first byte and to the last,
// beside the `cairn get` time.
func runGet(ctx context.Context, args []string) error {
	f := swarmFlags{nodes: 3}
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	size := fs.String("size", "512MiB", "bytes of the file")
	fs.StringVar(&f.bin, "bin", "", "cairn binary (default: built from this tree)")
	fs.BoolVar(&f.keep, "keep", false, "keep the work folder")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if f.size, err = parseSize(*size); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	sw, err := newSwarm(ctx, f)
	if err != nil {
		return err
	}
	defer sw.close()
	if err := sw.setup(ctx); err != nil {
		return err
	}
	if err := sw.start(ctx); err != nil {
		return err
	}
	// The reference: one sha256 pass over the same bytes, from the page
	// cache (warmed by a first pass).
	src := filepath.Join(sw.dir, "src", "data.bin")
	sha256Pass(src)
	ref, _, err := sha256Pass(src)
	if err != nil {
		return err
	}
	get, fetch, err := sw.getOne(ctx, 1)
	if err != nil {
		return err
	}
	fmt.Printf("get: size %s  sha256 pass %.2fs  cairn get --out %.2fs (%.2fx sha256)  fetch only %.2fs (%.2fx sha256)\n",
		humanBytes(f.size), ref.Seconds(), get.Seconds(), ref.Seconds()/get.Seconds(), fetch.Seconds(), ref.Seconds()/fetch.Seconds())
	// The third daemon must fetch from the origin alone, as the get did.
	sw.stop(1)
	first, whole, err := sw.hfDownload(ctx, 2)
	if err != nil {
		return err
	}
	fmt.Printf("hf pull-through: size %s  first byte %.3fs  whole file %.2fs  (%.2fx the cairn get of %.2fs)\n",
		humanBytes(f.size), first.Seconds(), whole.Seconds(), get.Seconds()/whole.Seconds(), get.Seconds())
	return nil
}

var pulledSeconds = regexp.MustCompile(`msg=pulled .*seconds=([0-9.e+-]+)`)

// getOne runs `cairn get --out` on daemon i, checks the output and
// returns its time and the fetch's (from the daemon's log).
func (sw *swarm) getOne(ctx context.Context, i int) (get, fetch time.Duration, err error) {
	home := sw.homes[i]
	out := home + ".out"
	t0 := time.Now()
	if _, err := sw.cairn(ctx, home, "get", "acme/swarm", "--out", out); err != nil {
		return 0, 0, err
	}
	get = time.Since(t0)
	if err := checkSum(filepath.Join(out, "data.bin"), sw.sum); err != nil {
		return 0, 0, err
	}
	log, err := os.ReadFile(home + ".log")
	if err != nil {
		return 0, 0, err
	}
	m := pulledSeconds.FindSubmatch(log)
	if m == nil {
		return 0, 0, errors.New("the daemon's log has no pulled line")
	}
	s, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, 0, err
	}
	return get, time.Duration(s * float64(time.Second)), nil
}

// stop ends daemon i.
func (sw *swarm) stop(i int) {
	c := sw.daems[i]
	c.Process.Signal(os.Interrupt)
	c.Wait()
}

// hfDownload downloads the file over daemon i's Hugging Face API and
// checks it.
func (sw *swarm) hfDownload(ctx context.Context, i int) (first, whole time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+sw.http[i]+"/acme/swarm/resolve/main/data.bin", nil)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("hf download: %s", resp.Status)
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	n, err := resp.Body.Read(buf)
	first = time.Since(t0)
	h.Write(buf[:n])
	if err == nil {
		_, err = io.CopyBuffer(h, resp.Body, buf)
	}
	whole = time.Since(t0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sw.sum {
		return 0, 0, fmt.Errorf("hf download: sha256 %s, want %s", got, sw.sum)
	}
	return first, whole, nil
}
