package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The worker pool: GOMAXPROCS-1 long-lived goroutines (at the time of first
// use) that help whichever goroutine calls parallelFor. The caller always
// works too, so a job finishes even when every helper is busy elsewhere;
// helpers are offered a job without blocking and join it when they can.
//
// Helpers poll for a job, and the caller for the job's end, for up to
// spinWait before blocking on a channel. Waking a parked helper took
// 50-100 µs here (BenchmarkPoolPass: the caller did nearly every chunk of
// a short pass alone), longer than many of a decode step's products and
// than the gaps between them. Decode, token by token alternating with
// blocking at once: 8-20% faster (Q4_0, Q8_0, Q4_K_M; F16 3-6%) with the
// machine otherwise idle, 3-6% slower while other processes kept both CPUs
// busy; 20 µs gained less.
const spinWait = 50 * time.Microsecond

type job struct {
	fn      func(lo, hi int)
	n       int // items
	chunk   int // items per chunk
	nchunks int64
	next    atomic.Int64 // next chunk to take
	pending atomic.Int64 // chunks not yet finished
	done    chan struct{}
}

var pool struct {
	once    sync.Once
	helpers int
	jobs    chan *job
}

func startPool() {
	pool.helpers = runtime.GOMAXPROCS(0) - 1
	if pool.helpers < 0 {
		pool.helpers = 0
	}
	pool.jobs = make(chan *job, pool.helpers)
	for i := 0; i < pool.helpers; i++ {
		go func() {
			for {
				nextJob().run()
			}
		}()
	}
}

// nextJob polls for a job for up to spinWait, then blocks. The poll
// yields (Gosched) so a goroutine readied on this P, such as a caller
// woken from its own wait, runs at once.
func nextJob() *job {
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case j := <-pool.jobs:
			return j
		default:
		}
		if i%16 == 15 && time.Since(start) > spinWait {
			return <-pool.jobs
		}
		runtime.Gosched()
	}
}

// workers returns how many goroutines may work on one job.
func workers() int {
	pool.once.Do(startPool)
	return min(pool.helpers+1, runtime.GOMAXPROCS(0))
}

func (j *job) run() {
	for {
		c := j.next.Add(1) - 1
		if c >= j.nchunks {
			return
		}
		lo := int(c) * j.chunk
		j.fn(lo, min(lo+j.chunk, j.n))
		if j.pending.Add(-1) == 0 {
			close(j.done)
		}
	}
}

// parallelFor calls fn over [0,n) in chunks of chunk items, spread over the
// pool, and returns when every chunk is done.
func parallelFor(n, chunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	chunk = max(chunk, 1)
	nchunks := (n + chunk - 1) / chunk
	w := workers()
	if nchunks == 1 || w == 1 {
		fn(0, n)
		return
	}
	j := &job{fn: fn, n: n, chunk: chunk, nchunks: int64(nchunks), done: make(chan struct{})}
	j.pending.Store(int64(nchunks))
	for i := 0; i < min(w, nchunks)-1; i++ {
		select {
		case pool.jobs <- j:
		default: // helpers busy: the caller does more of the work
		}
	}
	j.run()
	start := time.Now()
	for i := 0; j.pending.Load() != 0; i++ {
		if i%16 == 15 && time.Since(start) > spinWait {
			<-j.done
			return
		}
		runtime.Gosched()
	}
}

// chunkRows picks a chunk size for rows of rowBytes bytes: large enough to
// stream contiguous memory, small enough to balance over w workers (four
// chunks each, at most 1 MiB). Each chunk start costs the prefetchers a
// ramp and each end a prefetch distance of wasted reads: decode,
// alternating token by token, was 4-15% faster with 1 MiB than 64 KiB
// (Q4_0, Q8_0, F16; Q4_K_M 0-15%), 256 KiB between the two.
func chunkRows(rows, rowBytes, w int) int {
	c := max(1, (1<<20)/max(rowBytes, 1))
	if per := (rows + 4*w - 1) / (4 * w); c > per {
		c = per
	}
	return max(c, 1)
}

// ParallelFor calls fn over [0,n) in chunks of chunk items, spread over the
// pool's workers (the caller among them), and returns when every chunk is
// done. fn must be safe to run on disjoint ranges at once.
func ParallelFor(n, chunk int, fn func(lo, hi int)) { parallelFor(n, chunk, fn) }
