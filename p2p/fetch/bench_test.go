package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnhub/cairn/internal/cpu"
	"github.com/cairnhub/cairn/store"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Figures of issue 3. Run, e.g.:
//
//	CAIRN_BENCH_SIZE=1GiB go test -run=^$ -bench=Fetch -benchtime=1x ./p2p/fetch
//
// Every sub-benchmark reports MB/s beside crypto/sha256 over the same
// bytes (x_sha256) measured in the same run, and the process's peak heap.

const benchLeaf = 1 << 20 // like tensor chunks

// benchSize reads CAIRN_BENCH_SIZE ("64MiB", "1GiB", bytes); default 64 MiB.
func benchSize(b *testing.B) int64 {
	s := os.Getenv("CAIRN_BENCH_SIZE")
	if s == "" {
		return 64 << 20
	}
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("CAIRN_BENCH_SIZE=%q: want e.g. 256MiB or 1GiB", os.Getenv("CAIRN_BENCH_SIZE"))
	}
	return n * mult
}

// synth is a file of any size without holding it: a 64 MiB random base
// repeated, each 1 MiB leaf stamped with its index so no two leaves match.
type synth struct {
	base []byte
	size int64
}

func newSynth(size int64) *synth {
	return &synth{base: randomBytes(int(min(size, 64<<20)), 42), size: size}
}

func (s *synth) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) && off < s.size {
		bo := off % int64(len(s.base))
		c := copy(p[n:min(len(p), n+int(s.size-off))], s.base[bo:])
		n += c
		off += int64(c)
	}
	// Stamp: the first 8 bytes of every leaf hold its index.
	start := off - int64(n)
	for leaf := start / benchLeaf; leaf*benchLeaf < off; leaf++ {
		var st [8]byte
		binary.LittleEndian.PutUint64(st[:], uint64(leaf)+1)
		for i := range int64(8) {
			if at := leaf*benchLeaf + i - start; at >= 0 && at < int64(n) {
				p[at] = st[i]
			}
		}
	}
	if n < len(p) {
		return n, fmt.Errorf("synth: read past end")
	}
	return n, nil
}

// shaMeter measures crypto/sha256 over the benchmark's bytes (in MB/s)
// right before and after every fetch, so that the reference sees the same
// machine load as the figure beside it.
type shaMeter struct {
	buf   []byte
	bytes int64
	time  time.Duration
}

func (m *shaMeter) measure() {
	h := sha256.New()
	t0 := time.Now()
	for range 2 {
		h.Write(m.buf)
	}
	h.Sum(nil)
	m.time += time.Since(t0)
	m.bytes += 2 * int64(len(m.buf))
}

func (m *shaMeter) rate() float64 { return float64(m.bytes) / 1e6 / m.time.Seconds() }

// peakMem samples the heap and RSS until stop is called.
type peakMem struct {
	heap, rss atomic.Uint64
	stop      chan struct{}
	wg        sync.WaitGroup
}

func startPeak() *peakMem {
	p := &peakMem{stop: make(chan struct{})}
	p.wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if v := ms.HeapInuse + ms.StackInuse; v > p.heap.Load() {
				p.heap.Store(v)
			}
			if v := rss(); v > p.rss.Load() {
				p.rss.Store(v)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	})
	return p
}

func (p *peakMem) done() { close(p.stop); p.wg.Wait() }

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

type benchFixture struct {
	size   int64
	root   cid.Cid
	stores []*store.Store
	sha    []byte // the first 64 MiB of the file, for the sha256 reference
	// Figures measured earlier in this run, for ratios.
	mu      sync.Mutex
	figures map[string]float64
}

func (fx *benchFixture) set(k string, v float64) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	fx.figures[k] = v
}

func (fx *benchFixture) get(k string) float64 {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return fx.figures[k]
}

// fetchRun fetches the fixture's root b.N times into fresh badger stores
// and reports the figures.
func (fx *benchFixture) fetchRun(b *testing.B, h host.Host, peers []peer.ID, opts Options) []Stats {
	b.Helper()
	var all []Stats
	var elapsed, used time.Duration
	sha := &shaMeter{buf: fx.sha}
	pm := startPeak()
	for range b.N {
		b.StopTimer()
		dir, err := os.MkdirTemp(b.TempDir(), "recv")
		if err != nil {
			b.Fatal(err)
		}
		st, err := store.Open(store.Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		sha.measure()
		b.StartTimer()
		u0, s0 := cpu.Used()
		t0 := time.Now()
		stats, err := NewClient(h, st).Fetch(context.Background(), fx.root, peers, opts)
		elapsed += time.Since(t0)
		u1, s1 := cpu.Used()
		used += u1 - u0 + s1 - s0
		b.StopTimer()
		sha.measure()
		if err != nil {
			b.Fatalf("Fetch: %v", err)
		}
		if stats.Bytes < fx.size {
			b.Fatalf("Fetch moved %d bytes, want at least %d", stats.Bytes, fx.size)
		}
		all = append(all, stats)
		st.Close()
		os.RemoveAll(dir)
	}
	pm.done()
	rate := report(b, fx.size, elapsed, used, sha)
	if bare := fx.get("bare-" + transportOf(b.Name())); bare > 0 && strings.HasSuffix(b.Name(), "1src-"+transportOf(b.Name())) {
		b.ReportMetric(rate/bare, "x_bare_stream")
		if w := fx.get("store"); w > 0 {
			b.ReportMetric(rate/w, "x_store_write")
		}
	}
	b.ReportMetric(float64(pm.heap.Load())/(1<<20), "peak_heap_MiB")
	b.ReportMetric(float64(pm.rss.Load())/(1<<20), "peak_rss_MiB")
	fx.set(b.Name(), rate)
	return all
}

var benchInFlight, _ = strconv.Atoi(os.Getenv("CAIRN_INFLIGHT"))

func BenchmarkFetch(b *testing.B) {
	size := benchSize(b)
	syn := newSynth(size)
	fx := &benchFixture{size: size, figures: map[string]float64{}}
	fx.sha = append([]byte(nil), syn.base...)
	nsrc := 3
	if size > 1<<30 {
		nsrc = 1 // the memory figure: one source is enough
	}
	// The sources serve from the page cache, as a mirror serving a model
	// it holds does: the store writes imports past the page cache, so each
	// is read once here. 1src-tcp-coldsrc measures a source reading from
	// disk.
	for range nsrc {
		st := newStore(b)
		res := importReader(b, st, syn, size, benchLeaf)
		fx.root = res.CID
		fx.stores = append(fx.stores, st)
		readAll(b, st)
	}
	runtime.GC()

	one := func(tr string) func(b *testing.B) {
		return func(b *testing.B) {
			src := newSource(b, nil, fx.stores[0], allowAll, tr)
			h := newHost(b, tr)
			connect(b, h, src.h)
			fx.fetchRun(b, h, ids(src), Options{Transport: tr})
		}
	}
	bare := func(tr string) func(b *testing.B) {
		return func(b *testing.B) { fx.bareRun(b, tr) }
	}
	b.Run("bare-tcp", bare("tcp"))
	b.Run("bare-quic", bare("quic"))
	b.Run("store-putmany", fx.storeRun)
	b.Run("1src-tcp", one("tcp"))
	b.Run("1src-quic", one("quic"))
	b.Run("1src-tcp-coldsrc", func(b *testing.B) {
		// A new source store per run, just imported: its blocks are on
		// disk, not in the page cache.
		var elapsed, used time.Duration
		sha := &shaMeter{buf: fx.sha}
		for range b.N {
			b.StopTimer()
			st := newStore(b)
			importReader(b, st, syn, size, benchLeaf)
			src := newSource(b, nil, st, allowAll, "tcp")
			h := newHost(b, "tcp")
			connect(b, h, src.h)
			recv := newStore(b)
			runtime.GC()
			sha.measure()
			b.StartTimer()
			u0, s0 := cpu.Used()
			t0 := time.Now()
			if _, err := NewClient(h, recv).Fetch(context.Background(), fx.root, ids(src), Options{}); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(t0)
			u1, s1 := cpu.Used()
			used += u1 - u0 + s1 - s0
			b.StopTimer()
			sha.measure()
		}
		report(b, fx.size, elapsed, used, sha)
	})
	b.Run("1src-tcp-nostore", func(b *testing.B) {
		src := newSource(b, nil, fx.stores[0], allowAll, "tcp")
		h := newHost(b, "tcp")
		connect(b, h, src.h)
		sha := &shaMeter{buf: fx.sha}
		var elapsed time.Duration
		for range b.N {
			sha.measure()
			t0 := time.Now()
			if _, err := NewClient(h, &nullStore{}).Fetch(context.Background(), fx.root, ids(src), Options{}); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(t0)
			sha.measure()
		}
		report(b, fx.size, elapsed, 0, sha)
	})
	if nsrc == 1 {
		return
	}
	// The 40 ms link is a user-space proxy (tc netem is not in these VMs'
	// kernels) that costs CPU of its own on the same two cores; the same
	// proxy without delay is the reference that isolates the latency.
	viaProxy := func(oneWay time.Duration) func(b *testing.B) {
		return func(b *testing.B) {
			src := newSource(b, nil, fx.stores[0], allowAll, "tcp")
			h := newHost(b, "tcp")
			connect(b, h, src.h, delayProxy(b, tcpAddr(b, src.h), oneWay))
			fx.fetchRun(b, h, ids(src), Options{InFlight: benchInFlight})
			if lo := fx.get("BenchmarkFetch/1src-tcp"); lo > 0 {
				b.ReportMetric(fx.get(b.Name())/lo, "x_loopback")
			}
			if p0 := fx.get("BenchmarkFetch/1src-tcp-proxy0"); p0 > 0 && oneWay > 0 {
				b.ReportMetric(fx.get(b.Name())/p0, "x_proxy0")
			}
		}
	}
	b.Run("1src-tcp-proxy0", viaProxy(0))
	b.Run("1src-tcp-rtt40ms", viaProxy(20*time.Millisecond))
	b.Run("3src-tcp", func(b *testing.B) {
		h := newHost(b, "tcp")
		var srcs []*source
		for _, st := range fx.stores {
			s := newSource(b, nil, st, allowAll, "tcp")
			connect(b, h, s.h)
			srcs = append(srcs, s)
		}
		all := fx.fetchRun(b, h, ids(srcs...), Options{})
		if one := fx.get("BenchmarkFetch/1src-tcp"); one > 0 {
			b.ReportMetric(fx.get(b.Name())/one, "x_1src")
		}
		// Worst deviation of a source's bytes from an even third.
		worst := 0.0
		for _, st := range all {
			var sum float64
			for _, p := range st.Peers {
				sum += float64(p.Bytes)
			}
			for _, p := range st.Peers {
				worst = max(worst, math.Abs(float64(p.Bytes)/sum*3-1))
			}
		}
		b.ReportMetric(worst*100, "max_dev_%")
		for _, p := range all[len(all)-1].Peers {
			b.Logf("peer %s: rtt %v, %d MB, %d blocks, %d dups", p.ID.ShortString(), p.RTT, p.Bytes/1e6, p.Blocks, p.Dups)
		}
	})
	b.Run("nearest-tcp", func(b *testing.B) {
		h := newHost(b, "tcp")
		near := newSource(b, nil, fx.stores[0], allowAll, "tcp")
		far := newSource(b, nil, fx.stores[1], allowAll, "tcp")
		connect(b, h, near.h)
		connect(b, h, far.h, delayProxy(b, tcpAddr(b, far.h), 20*time.Millisecond))
		all := fx.fetchRun(b, h, []peer.ID{far.h.ID(), near.h.ID()}, Options{})
		var nb, tb int
		for _, st := range all {
			for _, p := range st.Peers {
				tb += p.Blocks
				if p.ID == near.h.ID() {
					nb += p.Blocks
				}
			}
		}
		b.ReportMetric(100*float64(nb)/float64(tb), "near_blocks_%")
	})
}

func transportOf(name string) string {
	if strings.Contains(name, "quic") {
		return "quic"
	}
	return "tcp"
}

// report prints the figures every run shares: bytes per second moved (b.N
// runs of size bytes in elapsed), the sha256 reference measured beside them,
// their ratio, and, when used (CPU of the whole process, both ends) is
// known, the CPU in sha256 passes over the bytes moved: what a run costs,
// whatever else loads the machine. It returns the rate in MB/s.
func report(b *testing.B, size int64, elapsed, used time.Duration, sha *shaMeter) float64 {
	rate := float64(size) * float64(b.N) / 1e6 / elapsed.Seconds()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(rate, "MB/s")
	b.ReportMetric(sha.rate(), "sha256_MB/s")
	b.ReportMetric(rate/sha.rate(), "x_sha256")
	if used > 0 {
		b.ReportMetric(used.Seconds()/(float64(size)*float64(b.N)/1e6/sha.rate()), "cpu_passes")
	}
	return rate
}

// readAll reads every block of st once (into the page cache).
func readAll(b *testing.B, st *store.Store) {
	b.Helper()
	ch, errOf, err := st.AllKeysChanWithErr(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for c := range ch {
		if err := st.View(context.Background(), c, func([]byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	if err := errOf(); err != nil {
		b.Fatal(err)
	}
}

// bareRun is the calibration: the same bytes over one bare libp2p stream
// in 1 MiB writes, no hashing, no store.
func (fx *benchFixture) bareRun(b *testing.B, tr string) {
	const proto = "/cairn/bench/bare"
	src := newHost(b, tr)
	buf := make([]byte, 1<<20)
	src.SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		for n := int64(0); n < fx.size; n += int64(len(buf)) {
			if _, err := s.Write(buf); err != nil {
				return
			}
		}
	})
	h := newHost(b, tr)
	connect(b, h, src)
	sha := &shaMeter{buf: fx.sha}
	var elapsed, used time.Duration
	for range b.N {
		sha.measure()
		u0, s0 := cpu.Used()
		t0 := time.Now()
		s, err := h.NewStream(context.Background(), src.ID(), proto)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, s, make([]byte, 1<<20))
		elapsed += time.Since(t0)
		u1, s1 := cpu.Used()
		used += u1 - u0 + s1 - s0
		s.Close()
		sha.measure()
		if err != nil || n < fx.size {
			b.Fatalf("bare stream: %d bytes, %v", n, err)
		}
	}
	fx.set("bare-"+tr, report(b, fx.size, elapsed, used, sha))
}

// nullStore keeps dag-pb nodes and only the names of leaves: the figure
// of the protocol and verification without the store's write cost.
type nullStore struct {
	mu    sync.Mutex
	nodes map[cid.Cid][]byte
	have  map[cid.Cid]bool
}

func (n *nullStore) Has(_ context.Context, c cid.Cid) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.have[c], nil
}

func (n *nullStore) View(_ context.Context, c cid.Cid, fn func([]byte) error) error {
	n.mu.Lock()
	b, ok := n.nodes[c]
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s: not found", c)
	}
	return fn(b)
}

func (n *nullStore) PutMany(_ context.Context, bs []blocks.Block) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.have == nil {
		n.have, n.nodes = map[cid.Cid]bool{}, map[cid.Cid][]byte{}
	}
	for _, b := range bs {
		n.have[b.Cid()] = true
		if b.Cid().Type() == cid.DagProtobuf {
			n.nodes[b.Cid()] = b.RawData()
		}
	}
	return nil
}

// storeRun is the second calibration: the receiving store's own write
// speed, PutMany of the same 1 MiB blocks (hashed beforehand) in the
// batches the fetch uses, into a fresh badger store.
func (fx *benchFixture) storeRun(b *testing.B) {
	n := min(fx.size, 512<<20) / benchLeaf
	syn := &synth{base: fx.sha, size: n * benchLeaf}
	bs := make([]blocks.Block, n)
	for i := range bs {
		buf := make([]byte, benchLeaf)
		if _, err := syn.ReadAt(buf, int64(i)*benchLeaf); err != nil {
			b.Fatal(err)
		}
		bs[i] = blocks.NewBlock(buf)
	}
	sha := &shaMeter{buf: fx.sha}
	var elapsed time.Duration
	batch := (Options{}).withDefaults().WriteBatch / benchLeaf
	for range b.N {
		st, err := store.Open(store.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		sha.measure()
		t0 := time.Now()
		for i := 0; i < len(bs); i += batch {
			if err := st.PutMany(context.Background(), bs[i:min(i+batch, len(bs))]); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(t0)
		sha.measure()
		st.Close()
	}
	fx.set("store", report(b, int64(n*benchLeaf), elapsed, 0, sha))
}
