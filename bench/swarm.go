package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// swarmFlags are the settings of `bench swarm`.
// dataFile names the repo's one file of random bytes. Not .bin: the gate
// walks a .bin as a pickle, and random bytes now and then read as opcodes
// that cross one of its limits (an unsafe finding: the repo is
// quarantined and the get fails).
const dataFile = "data.raw"

type swarmFlags struct {
	nodes     int
	size      int64
	upload    int64
	bin       string
	keep      bool
	maxCopies float64
	timeout   time.Duration
	// originDir, when set, holds the origin's home (a folder made below
	// it, removed after): another file system than the other daemons',
	// so the origin's reads do not share their disk, as when origin and
	// getter are two machines.
	originDir string
}

// runSwarm measures a roll-out: one origin holds a repo of -size bytes,
// -nodes-1 daemons (each uploading at most -upload per second) run
// `cairn get --out` of it at once. It prints the origin's copies (bytes it
// served ÷ size), p50/p99 completion against the ideal size ÷ upload, and
// checks every output's sha256.
func runSwarm(ctx context.Context, args []string) error {
	var f swarmFlags
	fs := flag.NewFlagSet("swarm", flag.ContinueOnError)
	fs.IntVar(&f.nodes, "nodes", 20, "daemons, the origin included")
	size := fs.String("size", "64MiB", "bytes the origin holds")
	upload := fs.String("upload", "16MiB", "upload limit of every daemon, per second")
	fs.StringVar(&f.bin, "bin", "", "cairn binary (default: built from this tree)")
	fs.BoolVar(&f.keep, "keep", false, "keep the work folder")
	fs.Float64Var(&f.maxCopies, "max-origin-copies", 0, "fail when the origin served more copies than this (0: no check)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if f.size, err = parseSize(*size); err != nil {
		return err
	}
	if f.upload, err = parseSize(*upload); err != nil {
		return err
	}
	if f.nodes < 2 {
		return errors.New("swarm: -nodes must be at least 2")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	sw, err := newSwarm(ctx, f)
	if err != nil {
		return err
	}
	defer sw.close()
	return sw.run(ctx)
}

// swarm is one run: homes, daemons and their logs under dir.
type swarm struct {
	f   swarmFlags
	dir string
	bin string
	// originHome is the origin's home below f.originDir ("" without).
	originHome string
	homes      []string
	daems      []*exec.Cmd
	http       []string
	sum        string
}

func newSwarm(ctx context.Context, f swarmFlags) (*swarm, error) {
	dir, err := os.MkdirTemp("", "cairn-swarm-")
	if err != nil {
		return nil, err
	}
	sw := &swarm{f: f, dir: dir, bin: f.bin}
	if err := sw.placeOrigin(); err != nil {
		sw.close()
		return nil, err
	}
	if sw.bin == "" {
		sw.bin = filepath.Join(dir, "cairn")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", sw.bin, "./cmd/cairn").CombinedOutput(); err != nil {
			sw.close()
			return nil, fmt.Errorf("build cairn: %w: %s", err, out)
		}
	}
	return sw, nil
}

// placeOrigin links the origin's home (node 0) to a folder below
// f.originDir when that is set.
func (sw *swarm) placeOrigin() error {
	if sw.f.originDir == "" {
		return nil
	}
	home, err := os.MkdirTemp(sw.f.originDir, "cairn-origin-")
	if err != nil {
		return fmt.Errorf("-origin-dir: %w", err)
	}
	sw.originHome = home
	return os.Symlink(home, filepath.Join(sw.dir, "n000"))
}

func (sw *swarm) close() {
	for _, c := range sw.daems {
		c.Process.Signal(os.Interrupt)
	}
	for _, c := range sw.daems {
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
	if !sw.f.keep {
		os.RemoveAll(sw.dir)
		if sw.originHome != "" {
			os.RemoveAll(sw.originHome)
		}
	} else {
		fmt.Println("work folder kept:", sw.dir)
	}
}

// cairn runs one CLI command against home and returns its stdout.
func (sw *swarm) cairn(ctx context.Context, home string, args ...string) (string, error) {
	if home != "" {
		args = append([]string{"--home", home}, args...)
	}
	cmd := exec.CommandContext(ctx, sw.bin, args...)
	cmd.Dir = sw.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("cairn %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func (sw *swarm) run(ctx context.Context) error {
	t0 := time.Now()
	if err := sw.setup(ctx); err != nil {
		return err
	}
	if err := sw.start(ctx); err != nil {
		return err
	}
	fmt.Printf("swarm: %d daemons up in %.1fs; %d getting %s at once, upload %s/s each\n",
		len(sw.homes), time.Since(t0).Seconds(), len(sw.homes)-1, humanBytes(sw.f.size), humanBytes(sw.f.upload))
	times, err := sw.getAll(ctx)
	if err != nil {
		return err
	}
	served, err := sw.originServed(ctx)
	if err != nil {
		return err
	}
	return sw.report(times, served)
}

// setup makes the organisation, the homes and the origin's repo.
func (sw *swarm) setup(ctx context.Context) error {
	pub, err := sw.cairn(ctx, "", "org", "init", "--key", "org.key")
	if err != nil {
		return err
	}
	for i := range sw.f.nodes {
		home := filepath.Join(sw.dir, fmt.Sprintf("n%03d", i))
		if _, err := sw.cairn(ctx, home, "init"); err != nil {
			return err
		}
		id, err := sw.cairn(ctx, home, "id")
		if err != nil {
			return err
		}
		cert := home + ".cert"
		if _, err := sw.cairn(ctx, "", "org", "issue", "--key", "org.key", "--org", "acme", "--peer", id,
			"--region", "eu", "--jurisdiction", "DE", "--role", "mirror", "--out", cert); err != nil {
			return err
		}
		if _, err := sw.cairn(ctx, home, "org", "join", cert, pub); err != nil {
			return err
		}
		sw.homes = append(sw.homes, home)
	}
	src := filepath.Join(sw.dir, "src", dataFile)
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		return err
	}
	h := sha256.New()
	fd, err := os.Create(src)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(io.MultiWriter(fd, h), rand.Reader, sw.f.size); err != nil {
		fd.Close()
		return err
	}
	if err := fd.Close(); err != nil {
		return err
	}
	sw.sum = hex.EncodeToString(h.Sum(nil))
	_, err = sw.cairn(ctx, sw.homes[0], "add", filepath.Dir(src), "--repo", "acme/swarm")
	return err
}

// start runs every daemon with the upload limit, each bootstrapped to
// every daemon before it.
func (sw *swarm) start(ctx context.Context) error {
	var addrs []string
	for _, home := range sw.homes {
		args := []string{"--home", home, "daemon", "--http", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0",
			"--max-upload-rate", strconv.FormatInt(sw.f.upload, 10)}
		// Every daemon before it: a swarm draws from the members
		// connected when the get starts.
		for _, a := range addrs {
			args = append(args, "--bootstrap", a)
		}
		logf, err := os.Create(home + ".log")
		if err != nil {
			return err
		}
		cmd := exec.Command(sw.bin, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return err
		}
		sw.daems = append(sw.daems, cmd)
		addr, httpAddr, err := sw.waitUp(ctx, home)
		if err != nil {
			return err
		}
		addrs = append(addrs, addr)
		sw.http = append(sw.http, httpAddr)
	}
	for _, home := range sw.homes[1:] {
		if err := sw.waitPeer(ctx, home); err != nil {
			return err
		}
	}
	return nil
}

var httpLine = regexp.MustCompile(`cairn daemon: peer \S+, http://([0-9.:]+)`)

// waitUp waits for a daemon's socket and returns its first p2p address
// and its HTTP address.
func (sw *swarm) waitUp(ctx context.Context, home string) (string, string, error) {
	for range 300 {
		out, err := sw.cairn(ctx, home, "id", "--json")
		var id struct {
			Addrs  []string `json:"addrs"`
			Daemon bool     `json:"daemon"`
		}
		if err == nil && json.Unmarshal([]byte(out), &id) == nil && id.Daemon && len(id.Addrs) > 0 {
			log, _ := os.ReadFile(home + ".log")
			if m := httpLine.FindSubmatch(log); m != nil {
				return id.Addrs[0], string(m[1]), nil
			}
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", "", fmt.Errorf("daemon %s did not start (log %s.log)", home, home)
}

func (sw *swarm) waitPeer(ctx context.Context, home string) error {
	for range 300 {
		// Every other daemon: a get draws on the members connected.
		if out, err := sw.cairn(ctx, home, "peers", "--json"); err == nil && strings.Count(out, `"peer":`) >= sw.f.nodes-1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("daemon %s has no peer", home)
}

// getAll runs `cairn get --out` on every node but the origin at once and
// returns each one's completion time; every output's sha256 is checked.
func (sw *swarm) getAll(ctx context.Context) ([]time.Duration, error) {
	n := len(sw.homes) - 1
	times := make([]time.Duration, n)
	errs := make([]error, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i, home := range sw.homes[1:] {
		wg.Go(func() {
			out := home + ".out"
			if _, err := sw.cairn(ctx, home, "get", "acme/swarm", "--out", out); err != nil {
				errs[i] = err
				return
			}
			times[i] = time.Since(start)
			errs[i] = checkSum(filepath.Join(out, dataFile), sw.sum)
		})
	}
	wg.Wait()
	return times, errors.Join(errs...)
}

func checkSum(path, want string) error {
	fd, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fd.Close()
	h := sha256.New()
	if _, err := io.Copy(h, bufio.NewReaderSize(fd, 1<<20)); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s: sha256 %s, want %s", path, got, want)
	}
	return nil
}

// originServed sums cairn_served_bytes_total over the origin's peers.
func (sw *swarm) originServed(ctx context.Context) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+sw.http[0]+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	found := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "cairn_served_bytes_total") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		total += v
		found = true
	}
	if !found {
		return 0, errors.New("the origin's /metrics has no cairn_served_bytes_total")
	}
	return int64(total), sc.Err()
}

func (sw *swarm) report(times []time.Duration, served int64) error {
	slices.Sort(times)
	p := func(q float64) time.Duration { return times[min(len(times)-1, int(q*float64(len(times))))] }
	ideal := time.Duration(float64(sw.f.size) / float64(sw.f.upload) * float64(time.Second))
	copies := float64(served) / float64(sw.f.size)
	fmt.Printf("nodes %d  size %s  upload %s/s  origin copies %.2f  p50 %.2fs  p99 %.2fs  ideal %.2fs  p99/ideal %.2f  sha256 all %d ok\n",
		len(sw.homes), humanBytes(sw.f.size), humanBytes(sw.f.upload), copies, p(0.5).Seconds(), p(0.99).Seconds(),
		ideal.Seconds(), p(0.99).Seconds()/ideal.Seconds(), len(times))
	if sw.f.maxCopies > 0 && copies > sw.f.maxCopies {
		return fmt.Errorf("the origin served %.2f copies, more than %.2f", copies, sw.f.maxCopies)
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%gMiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%dB", n)
	}
}
