package gossip

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// go-libp2p's mock network delays a stream's writes of 256 bytes or more
// one after the other (each waits out the link latency before the next is
// taken), which caps a link at about two messages per latency: a holdings
// round would measure that queue, not gossip. The simulation therefore
// runs the mock network without latency and delays each write on the
// streams a node opens by the link latency here, pipelined like a real
// link: a write arrives one latency after it was made, in order.

// latencyHost opens streams whose writes arrive after a fixed latency.
type latencyHost struct {
	host.Host
	latency time.Duration
	// stop ends every stream's delivery when the simulation closes: a
	// stream the remote closed is never closed here, and its delivery
	// goroutine must not outlive the simulation (synctest waits for it).
	stop <-chan struct{}
}

func (h latencyHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil || h.latency <= 0 {
		return s, err
	}
	ls := &latencyStream{Stream: s, latency: h.latency, q: make(chan timedWrite, 1024), done: make(chan struct{}), stop: h.stop}
	go ls.deliver()
	return ls, nil
}

type timedWrite struct {
	at time.Time
	b  []byte
}

// latencyStream delivers each write to the underlying stream one latency
// after it was made.
type latencyStream struct {
	network.Stream
	latency time.Duration
	q       chan timedWrite
	done    chan struct{}
	stop    <-chan struct{}

	mu     sync.Mutex
	closed bool
	err    error
}

func (s *latencyStream) deliver() {
	defer close(s.done)
	for {
		var w timedWrite
		var ok bool
		select {
		case w, ok = <-s.q:
		case <-s.stop:
			ok = false
		}
		if !ok {
			return
		}
		time.Sleep(time.Until(w.at))
		if _, err := s.Stream.Write(w.b); err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			s.drain()
			return
		}
	}
}

// drain empties the queue until it closes or the simulation stops: the
// writer must not block.
func (s *latencyStream) drain() {
	for {
		select {
		case _, ok := <-s.q:
			if !ok {
				return
			}
		case <-s.stop:
			return
		}
	}
}

func (s *latencyStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	if s.closed {
		return 0, network.ErrReset
	}
	select {
	case s.q <- timedWrite{at: time.Now().Add(s.latency), b: append([]byte(nil), p...)}:
		return len(p), nil
	case <-s.stop:
		return 0, network.ErrReset
	}
}

// flush ends the queue and waits for the writes in it.
func (s *latencyStream) flush() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.q)
	}
	s.mu.Unlock()
	<-s.done
}

func (s *latencyStream) Close() error {
	s.flush()
	return s.Stream.Close()
}

func (s *latencyStream) CloseWrite() error {
	s.flush()
	return s.Stream.CloseWrite()
}

func (s *latencyStream) Reset() error {
	err := s.Stream.Reset()
	s.flush()
	return err
}
