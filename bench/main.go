package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/internal/cpu"
	"github.com/cairnhub/cairn/store"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench import [-size 1GiB] | dedup | storeput | swarm [-nodes 20] | get [-size 512MiB] | gossip [-nodes 1000] | gguf -arch llama -type F16 -o FILE | embedcheck -m FILE [PROMPT...] | memory [-types Q4_0,F16]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "import":
		err = runImport(ctx, os.Args[2:])
	case "storeput":
		err = runStorePut(ctx, os.Args[2:])
	case "dedup":
		err = runDedup(ctx, os.Args[2:])
	case "get":
		err = runGet(ctx, os.Args[2:])
	case "swarm":
		err = runSwarm(ctx, os.Args[2:])
	case "gossip":
		err = runGossip(ctx, os.Args[2:])
	case "gguf":
		err = runGGUF(ctx, os.Args[2:])
	case "embedcheck":
		err = runEmbedCheck(ctx, os.Args[2:])
	case "memory":
		err = runMemory(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(f * float64(mult)), nil
}

// peakRSS returns VmHWM from /proc/self/status in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	u, s := cpuSplit()
	return u + s
}

// cpuSplit is the process's user and system CPU time so far.
func cpuSplit() (user, sys time.Duration) { return cpu.Used() }

// startRSSSampler samples RssAnon and RssFile every 20ms until the
// returned function is called; it returns their peaks in bytes.
func startRSSSampler() func() (anon, file int64) {
	stop := make(chan struct{})
	done := make(chan struct{})
	var pa, pf int64
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			a, f := rssParts()
			pa, pf = max(pa, a), max(pf, f)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, int64) {
		close(stop)
		<-done
		return pa, pf
	}
}

func rssParts() (anon, file int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		switch k {
		case "RssAnon":
			anon = n << 10
		case "RssFile", "RssShmem":
			file += n << 10
		}
	}
	return anon, file
}

// discardPutter stores nothing.
type discardPutter struct{}

func (discardPutter) Has(context.Context, cid.Cid) (bool, error)    { return false, nil }
func (discardPutter) PutMany(context.Context, []blocks.Block) error { return nil }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

type tensorSpec struct {
	name  string
	dtype string
	shape []uint64
	size  int64
}

// llamaTensors lays out tensors shaped like a llama layer stack (F16) until
// about total bytes: large projections and small norm vectors.
func llamaTensors(total int64) []tensorSpec {
	const hidden, inter = 2048, 5632
	var ts []tensorSpec
	var sum int64
	add := func(name string, shape ...uint64) {
		n := int64(2)
		for _, d := range shape {
			n *= int64(d)
		}
		ts = append(ts, tensorSpec{name, "F16", shape, n})
		sum += n
	}
	add("model.embed_tokens.weight", 4000, hidden)
	for l := 0; sum < total; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		add(p+"input_layernorm.weight", hidden)
		add(p+"self_attn.q_proj.weight", hidden, hidden)
		add(p+"self_attn.k_proj.weight", 256, hidden)
		add(p+"self_attn.v_proj.weight", 256, hidden)
		add(p+"self_attn.o_proj.weight", hidden, hidden)
		add(p+"post_attention_layernorm.weight", hidden)
		add(p+"mlp.gate_proj.weight", inter, hidden)
		add(p+"mlp.up_proj.weight", inter, hidden)
		add(p+"mlp.down_proj.weight", hidden, inter)
	}
	return ts
}

// writeSafetensors writes the tensors with content from seed(i) (a tensor
// keeps its content when only its index's seed is kept), streaming.
func writeSafetensors(path string, ts []tensorSpec, meta map[string]string, seed func(i int) uint64) (int64, error) {
	hdr := map[string]any{}
	if meta != nil {
		hdr["__metadata__"] = meta
	}
	var off int64
	for _, t := range ts {
		hdr[t.name] = map[string]any{"dtype": t.dtype, "shape": t.shape, "data_offsets": []int64{off, off + t.size}}
		off += t.size
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return 0, err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 4<<20)
	w.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(js))))
	w.Write(js)
	buf := make([]byte, 4<<20)
	for i, t := range ts {
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], seed(i))
		rng := rand.NewChaCha8(key)
		for left := t.size; left > 0; {
			n := min(left, int64(len(buf)))
			rng.Read(buf[:n])
			if _, err := w.Write(buf[:n]); err != nil {
				return 0, err
			}
			left -= n
		}
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), f.Close()
}

// sha256Pass times one crypto/sha256 pass over the file (page cache warm).
func sha256Pass(path string) (time.Duration, [32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 8<<20)
	c0 := cpuTime()
	start := time.Now()
	if _, err := io.CopyBuffer(h, f, buf); err != nil {
		return 0, [32]byte{}, err
	}
	var sum [32]byte
	h.Sum(sum[:0])
	took := time.Since(start)
	lastSHACPU = cpuTime() - c0
	return took, sum, nil
}

var lastSHACPU time.Duration

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

// importBench is the setting of one `bench import`.
type importBench struct {
	work      string
	mem       bool
	discard   bool
	again     bool
	runs      int
	storeName string
	path      string
	f         *os.File
	fsize     int64
	tensors   int
	want      [32]byte // the file's sha256
}

// importRun is what one run measured.
type importRun struct {
	took, ref, cpu, refCPU time.Duration
}

func runImport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("import", flag.ExitOnError)
	sizeS := fs.String("size", "1GiB", "file size")
	dir := fs.String("dir", "", "work directory (default: a new temporary directory, removed after)")
	mem := fs.Bool("mem", false, "in-memory store instead of badger on disk")
	discard := fs.Bool("discard", false, "no store: hash and drop the blocks (the chunker's own speed)")
	again := fs.Bool("again", false, "import the same file a second time (all blocks present)")
	runs := fs.Int("runs", 3, "runs (sha256 pass + import into a fresh store); best and median reported")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the import here")
	traceFile := fs.String("trace", "", "write an execution trace of the import here")
	fs.Parse(args)
	size, err := parseSize(*sizeS)
	if err != nil {
		return err
	}
	b := &importBench{work: *dir, mem: *mem, discard: *discard, again: *again, runs: *runs}
	if b.work == "" {
		if b.work, err = os.MkdirTemp("", "cairn-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(b.work)
	}
	if err := b.writeFile(size); err != nil {
		return err
	}
	defer b.f.Close()
	b.storeName = "none (blocks dropped)"
	if !b.discard {
		b.storeName = map[bool]string{true: "badger in-memory", false: "badger on disk"}[b.mem]
	}
	rssBefore := peakRSS()
	sampler := startRSSSampler()
	stop, err := startProfiles(*cpuProfile, *traceFile)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("file            %d bytes, %d tensors; %d runs, each a sha256 pass then an import into a fresh store\n", b.fsize, b.tensors, b.runs)
	var all []importRun
	for i := range b.runs {
		r, err := b.run(ctx, i)
		if err != nil {
			return err
		}
		all = append(all, r)
	}
	b.summary(all)
	anon, file := sampler()
	fmt.Printf("peak RSS        %8.0f MiB   (VmHWM; %.0f MiB before the imports; target < 300)\n", float64(peakRSS())/(1<<20), float64(rssBefore)/(1<<20))
	fmt.Printf("  of which      %8.0f MiB anonymous (heap, stacks), %.0f MiB file-backed (mmapped badger files), peaks sampled every 20ms\n", float64(anon)/(1<<20), float64(file)/(1<<20))
	return nil
}

// writeFile writes the test file, warms the page cache with a sha256 pass
// and opens it.
func (b *importBench) writeFile(size int64) error {
	b.path = filepath.Join(b.work, "model.safetensors")
	ts := llamaTensors(size)
	fmt.Printf("writing %s (%d tensors)...\n", b.path, len(ts))
	fsize, err := writeSafetensors(b.path, ts, map[string]string{"format": "pt"}, func(i int) uint64 { return uint64(i) })
	if err != nil {
		return err
	}
	b.fsize, b.tensors = fsize, len(ts)
	// Warm the page cache.
	if _, b.want, err = sha256Pass(b.path); err != nil {
		return err
	}
	b.f, err = os.Open(b.path)
	return err
}

// startProfiles starts the CPU profile and the execution trace asked for.
func startProfiles(cpuProfile, traceFile string) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
	}
	if cpuProfile != "" {
		pf, err := os.Create(cpuProfile)
		if err != nil {
			return nil, err
		}
		pprof.StartCPUProfile(pf)
		stops = append(stops, pprof.StopCPUProfile)
	}
	if traceFile != "" {
		tf, err := os.Create(traceFile)
		if err != nil {
			stop()
			return nil, err
		}
		trace.Start(tf)
		stops = append(stops, trace.Stop)
	}
	return stop, nil
}

// run is run i: a sha256 pass, then an import into a fresh store; the
// last run also reads the file back, and imports it again when asked.
func (b *importBench) run(ctx context.Context, i int) (r importRun, err error) {
	ref, sum, err := sha256Pass(b.path)
	if err != nil {
		return r, err
	}
	r.ref, r.refCPU = ref, lastSHACPU
	var st chunker.Putter = discardPutter{}
	var s *store.Store
	storeDir := filepath.Join(b.work, fmt.Sprintf("store-%d", i))
	if !b.discard {
		opts := store.Options{Dir: storeDir, InMemory: b.mem}
		if b.mem {
			opts.Dir = ""
		}
		if s, err = store.Open(opts); err != nil {
			return r, err
		}
		defer os.RemoveAll(storeDir)
		defer func() {
			if cerr := s.Close(); err == nil {
				err = cerr
			}
		}()
		st = s
	}
	u0, s0 := cpuSplit()
	start := time.Now()
	res, err := chunker.ImportFile(ctx, st, b.f, b.fsize, "model.safetensors", chunker.Options{})
	if err != nil {
		return r, err
	}
	r.took = time.Since(start)
	u1, s1 := cpuSplit()
	r.cpu = u1 - u0 + s1 - s0
	if res.SHA256 != sum || sum != b.want {
		return r, errors.New("import sha256 differs from the reference pass")
	}
	fmt.Printf("run %d           sha256 %4.0f MB/s, import %4.0f MB/s, ratio %.2f; CPU %.2fs import (user %.2f, sys %.2f) / %.2fs sha256 = %.2f passes; %d blocks, new bytes %d, load %s\n",
		i+1, mbps(b.fsize, r.ref), mbps(b.fsize, r.took), r.ref.Seconds()/r.took.Seconds(), r.cpu.Seconds(), (u1 - u0).Seconds(), (s1 - s0).Seconds(), r.refCPU.Seconds(), r.cpu.Seconds()/r.refCPU.Seconds(), len(res.Blocks), res.NewBytes, loadAvg())
	if i != b.runs-1 {
		return r, nil
	}
	if s != nil {
		if err := b.readBack(ctx, s, res.CID); err != nil {
			return r, err
		}
	}
	if b.again {
		start = time.Now()
		res2, err := chunker.ImportFile(ctx, st, b.f, b.fsize, "model.safetensors", chunker.Options{})
		if err != nil {
			return r, err
		}
		took2 := time.Since(start)
		fmt.Printf("re-import       %8.0f MB/s  (%v, every block present, new bytes %d)\n", mbps(b.fsize, took2), took2.Round(time.Millisecond), res2.NewBytes)
	}
	return r, nil
}

// readBack reads the file back through chunker.NewReader and verifies it
// (what `cairn get` does).
func (b *importBench) readBack(ctx context.Context, s *store.Store, root cid.Cid) error {
	rd, err := chunker.NewReader(ctx, s, root)
	if err != nil {
		return err
	}
	h := sha256.New()
	start := time.Now()
	if _, err := io.CopyBuffer(h, rd, make([]byte, 1<<20)); err != nil {
		return err
	}
	took := time.Since(start)
	if [32]byte(h.Sum(nil)) != b.want {
		return errors.New("read back: sha256 differs")
	}
	fmt.Printf("read back       %8.0f MB/s  (NewReader from the store + sha256 of the content, %v)\n", mbps(b.fsize, took), took.Round(time.Millisecond))
	return nil
}

// summary prints the best and median figures of the runs.
func (b *importBench) summary(runs []importRun) {
	best, bestRef := runs[0], runs[0]
	var ratios, passes []float64
	for _, r := range runs {
		ratios = append(ratios, r.ref.Seconds()/r.took.Seconds())
		passes = append(passes, r.cpu.Seconds()/r.refCPU.Seconds())
		if r.took < best.took {
			best = r
		}
		if r.ref < bestRef.ref {
			bestRef = r
		}
	}
	slices.Sort(ratios)
	slices.Sort(passes)
	med := func(xs []float64) float64 { return xs[len(xs)/2] }
	fmt.Printf("sha256 pass     %8.0f MB/s  (best of %d, crypto/sha256, page cache warm)\n", mbps(b.fsize, bestRef.ref), b.runs)
	fmt.Printf("import          %8.0f MB/s  (best of %d, store=%s)\n", mbps(b.fsize, best.took), b.runs, b.storeName)
	fmt.Printf("ratio           %8.2f       (best import / best sha256; median of the per-run ratios %.2f; target >= 0.60; load %s)\n", bestRef.ref.Seconds()/best.took.Seconds(), med(ratios), loadAvg())
	fmt.Printf("CPU time        %8.2fs      import, %.2fs sha256: %.2f sha256 passes in the best run, median %.2f (%d cores)\n", best.cpu.Seconds(), bestRef.refCPU.Seconds(), best.cpu.Seconds()/bestRef.refCPU.Seconds(), med(passes), runtime.NumCPU())
	fmt.Printf("  idle bound    %8.2f       (ratio an idle machine allows at the median CPU: cores / passes, capped at 1 by the serial whole-file hash)\n", min(1, float64(runtime.NumCPU())/med(passes)))
}

func runDedup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dedup", flag.ExitOnError)
	sizeS := fs.String("size", "1GiB", "approximate file size")
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
	ts := llamaTensors(size)
	a, b := filepath.Join(work, "a.safetensors"), filepath.Join(work, "b.safetensors")
	if _, err := writeSafetensors(a, ts, map[string]string{"format": "pt"}, func(i int) uint64 { return uint64(i) }); err != nil {
		return err
	}
	changed, changedBytes := 0, int64(0)
	for i, t := range ts {
		if i%10 == 5 {
			changed++
			changedBytes += t.size
		}
	}
	bsize, err := writeSafetensors(b, ts, map[string]string{"format": "pt", "fine_tuned": "yes"}, func(i int) uint64 {
		if i%10 == 5 {
			return uint64(1e6 + i)
		}
		return uint64(i)
	})
	if err != nil {
		return err
	}
	fmt.Printf("pair: %d tensors, %d changed (every tenth), a metadata entry added (every offset shifts); second file %d bytes\n", len(ts), changed, bsize)
	fmt.Printf("%-24s %6.2f%% of the second file's bytes are in changed tensors (the floor)\n", "reference", 100*float64(changedBytes)/float64(bsize))
	for _, tc := range []struct {
		name string
		opts chunker.Options
	}{
		{"tensor-aware (Auto)", chunker.Options{}},
		{"plain CDC 64K/256K/1M", chunker.Options{Strategy: chunker.CDC}},
		{"fixed 256 KiB", chunker.Options{Strategy: chunker.Fixed}},
	} {
		st, err := store.Open(store.Options{Dir: filepath.Join(work, "store-"+strconv.Itoa(len(tc.name)))})
		if err != nil {
			return err
		}
		var nb int64
		for _, p := range []string{a, b} {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			fi, _ := f.Stat()
			res, err := chunker.ImportFile(ctx, st, f, fi.Size(), filepath.Base(p), tc.opts)
			f.Close()
			if err != nil {
				return err
			}
			nb = res.NewBytes
		}
		st.Close()
		fmt.Printf("%-24s new bytes of the second import: %6.2f%% (%d bytes)\n", tc.name, 100*float64(nb)/float64(bsize), nb)
	}
	_ = bytes.MinRead
	return nil
}
