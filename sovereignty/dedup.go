package sovereignty

import (
	"fmt"
	"sync"
	"time"
)

// DedupAuditor passes entries to an Auditor but records an entry identical
// to one recorded within the window (same kind, subject, peer, repo and
// reason) only once, counting the rest. A peer refused block after block
// would otherwise cost one synced audit line per block. The count of
// suppressed entries is added to the next recorded entry with the same key.
type DedupAuditor struct {
	next   Auditor
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	seen map[dedupKey]*dedupState
}

type dedupKey struct{ kind, subject, peer, repo, reason string }

type dedupState struct {
	at         time.Time // when the last recorded entry was appended
	suppressed int
}

// dedupMaxKeys bounds memory; beyond it entries pass through unsuppressed.
const dedupMaxKeys = 4096

// NewDedupAuditor wraps next. window 0 means one minute.
func NewDedupAuditor(next Auditor, window time.Duration) *DedupAuditor {
	if window <= 0 {
		window = time.Minute
	}
	return &DedupAuditor{next: next, window: window, now: time.Now, seen: map[dedupKey]*dedupState{}}
}

// Append records e unless an identical entry was recorded within the window.
func (d *DedupAuditor) Append(e Entry) error {
	k := dedupKey{e.Kind, e.Subject, e.Peer, e.Repo, e.Reason}
	now := d.now()
	d.mu.Lock()
	st := d.seen[k]
	if st != nil && now.Sub(st.at) < d.window {
		st.suppressed++
		d.mu.Unlock()
		return nil
	}
	if st == nil {
		if len(d.seen) >= dedupMaxKeys {
			for key, s := range d.seen {
				if now.Sub(s.at) >= d.window && s.suppressed == 0 {
					delete(d.seen, key)
				}
			}
		}
		if len(d.seen) < dedupMaxKeys {
			st = &dedupState{}
			d.seen[k] = st
		}
	}
	if st != nil {
		if st.suppressed > 0 {
			e.Reason += fmt.Sprintf(" (%d identical entries suppressed since %s)", st.suppressed, st.at.UTC().Format(time.RFC3339))
		}
		st.at, st.suppressed = now, 0
	}
	d.mu.Unlock()
	return d.next.Append(e)
}
