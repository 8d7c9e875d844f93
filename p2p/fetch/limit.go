package fetch

import (
	"context"
	"sync"
	"time"
)

// Limiter is a token bucket of bytes per second shared by every stream
// that spends from it. It starts empty and holds at most a twentieth of
// a second's bytes, so over any few seconds no more than the rate passes.
// A spender may run into debt (a block larger than the bucket): it then
// waits until the debt is paid, and so does every later spender, in
// order. A nil *Limiter is unlimited.
type Limiter struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter of bytesPerSec, or nil (unlimited) for 0.
func NewLimiter(bytesPerSec int64) *Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	r := float64(bytesPerSec)
	return &Limiter{rate: r, burst: max(r/20, 16<<10), last: time.Now()}
}

// Rate returns the limit in bytes per second; 0 for unlimited.
func (l *Limiter) Rate() int64 {
	if l == nil {
		return 0
	}
	return int64(l.rate)
}

// Wait spends n bytes, waiting until the bucket allows them or ctx ends.
func (l *Limiter) Wait(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	debt := -l.tokens
	l.mu.Unlock()
	if debt <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(debt / l.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
