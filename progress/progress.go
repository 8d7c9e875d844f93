// Package progress reports long operations: a redrawn bar on a terminal,
// plain lines at most every few seconds otherwise (logs, CI).
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar reports bytes done of a total.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	label   string
	start   time.Time
	last    time.Time
	extra   string
	done    bool
	printed bool
}

// New starts a bar writing to w. A nil w means no output at all.
func New(w io.Writer, label string) *Bar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	now := time.Now()
	// last = start: the first line comes after one interval, so a quick
	// operation prints only its final line.
	return &Bar{w: w, tty: tty, label: label, start: now, last: now}
}

// SetExtra sets text shown after the figures (peers, files).
func (b *Bar) SetExtra(s string) {
	b.mu.Lock()
	b.extra = s
	b.mu.Unlock()
}

// Update reports progress; it is cheap to call often.
func (b *Bar) Update(done, total int64) {
	if b == nil || b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	interval := 5 * time.Second
	if b.tty {
		interval = 100 * time.Millisecond
	}
	if now.Sub(b.last) < interval && done < total {
		return
	}
	b.last = now
	b.printed = true
	line := b.line(done, total, now)
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(b.w, line)
	}
}

// Done ends the bar's line on a terminal.
func (b *Bar) Done() {
	if b == nil || b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && b.printed && !b.done {
		fmt.Fprintln(b.w)
	}
	b.done = true
}

func (b *Bar) line(done, total int64, now time.Time) string {
	el := now.Sub(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el
	}
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	s := fmt.Sprintf("%s %s / %s (%.0f%%) %s/s", b.label, Bytes(done), Bytes(total), pct, Bytes(int64(rate)))
	if b.tty {
		const width = 24
		n := int(pct / 100 * width)
		n = max(0, min(width, n))
		s = fmt.Sprintf("%s [%s%s] %s / %s %s/s", b.label, strings.Repeat("=", n), strings.Repeat(" ", width-n), Bytes(done), Bytes(total), Bytes(int64(rate)))
	}
	if b.extra != "" {
		s += " " + b.extra
	}
	return s
}

// Bytes formats a byte count with binary units.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
