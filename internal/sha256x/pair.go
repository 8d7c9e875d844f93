package sha256x

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Pairer hashes the messages of concurrent callers two at a time: a caller
// that finds another waiting hashes both and hands the other its result;
// one that finds nobody waits a short while for a partner, then hashes
// alone. Goroutines that hash side by side (a server's read-ahead checking
// blocks; a fetch checking blocks while the file they belong to is hashed)
// so spend about half the CPU on it. A caller that keeps waiting in vain
// stops waiting but for one call in probeEvery, so a lone caller loses
// little. The zero Pairer is ready to use.
type Pairer struct {
	mu      sync.Mutex
	waiting *pairReq
	score   int // recent pairings won, less waits in vain; no wait at 0
	calls   int
	paired  int // pairings made (for tests)
}

// Shared is the process's Pairer: callers in different packages that hash
// at the same time (a fetch checking blocks, the assembler hashing the
// files they belong to, a server's read-ahead) pair through it.
var Shared Pairer

type pairReq struct {
	h    *[8]uint32
	p    []byte
	done chan struct{}
}

// Sum returns the SHA-256 digest of data.
func (pr *Pairer) Sum(data []byte) [32]byte {
	if !hasSHA {
		return sha256.Sum256(data)
	}
	d := Digest{h: iv}
	d.write(data, pr)
	return d.sum()
}

// Write adds p to d, its bulk hashed with another caller's when one comes.
func (pr *Pairer) Write(d *Digest, p []byte) {
	d.write(p, pr)
}

// run hashes p (whole chunks) into h.
func (pr *Pairer) run(h *[8]uint32, p []byte) {
	if len(p) < minPair {
		compress(h, p)
		return
	}
	pr.mu.Lock()
	if w := pr.waiting; w != nil {
		pr.waiting = nil
		pr.score = min(pr.score+2, maxScore)
		pr.paired++
		pr.mu.Unlock()
		pairChunks(h, p, w.h, w.p)
		close(w.done)
		return
	}
	pr.calls++
	if pr.score == 0 && pr.calls%probeEvery != 0 {
		pr.mu.Unlock()
		compress(h, p)
		return
	}
	r := &pairReq{h: h, p: p, done: make(chan struct{})}
	pr.waiting = r
	pr.mu.Unlock()
	t := time.NewTimer(pairWait(len(p)))
	defer t.Stop()
	select {
	case <-r.done:
		return
	case <-t.C:
	}
	pr.mu.Lock()
	if pr.waiting == r {
		pr.waiting = nil
		pr.score = max(pr.score-1, 0)
		pr.mu.Unlock()
		compress(h, p)
		return
	}
	pr.mu.Unlock()
	<-r.done // taken meanwhile: the partner is hashing it
}

const (
	// minPair: below this a message is hashed at once; the wait and the
	// hand-over would cost more than pairing saves.
	minPair = 16 << 10
	// maxScore bounds how many waits in vain in a row a Pairer risks
	// after a run of pairings.
	maxScore = 8
	// probeEvery: a Pairer whose waits went unanswered still waits once
	// in this many calls, to notice partners coming back.
	probeEvery = 16
)

// pairWait is how long a message of n bytes waits for a partner: about
// the time pairing saves (half of hashing it alone, at ~2 GB/s), so a
// wait in vain costs a block no more latency than a partner would save
// CPU.
func pairWait(n int) time.Duration {
	return time.Duration(n) * time.Second / 4e9
}
