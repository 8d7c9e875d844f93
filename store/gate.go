package store

import (
	"context"
	"sync"
)

// gcGate lets any number of writers hold the store against GC, and GC run
// alone. Holds are counted, not locked, so a caller holding the store may
// call Commit (which holds again) without deadlock; the price is that GC
// waits until no import is running.
type gcGate struct {
	mu      sync.Mutex
	holds   int
	running bool
	changed chan struct{} // closed and replaced whenever holds or running change
}

func (g *gcGate) init() { g.changed = make(chan struct{}) }

func (g *gcGate) signal() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// hold waits until GC is not running and registers a writer.
func (g *gcGate) hold(ctx context.Context) (func(), error) {
	for {
		g.mu.Lock()
		if !g.running {
			g.holds++
			g.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					g.mu.Lock()
					g.holds--
					g.signal()
					g.mu.Unlock()
				})
			}, nil
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// exclusive waits until no writer holds the store and no GC runs, then
// marks GC running.
func (g *gcGate) exclusive(ctx context.Context) (func(), error) {
	for {
		g.mu.Lock()
		if !g.running && g.holds == 0 {
			g.running = true
			g.mu.Unlock()
			return func() {
				g.mu.Lock()
				g.running = false
				g.signal()
				g.mu.Unlock()
			}, nil
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Hold keeps GC from starting until release is called, and waits for a
// running GC to finish first. An import holds the store from its first Put
// to its Commit, so that GC never deletes blocks that are stored but not yet
// referenced. PutMany and Commit hold the store themselves while they run.
func (s *Store) Hold(ctx context.Context) (release func(), err error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	return s.gc.hold(ctx)
}
