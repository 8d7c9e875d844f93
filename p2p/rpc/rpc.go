package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Named timeouts of one exchange. A context with an earlier deadline wins.
const (
	// OpenTimeout bounds opening a stream: dialling if needed and negotiating
	// the protocol.
	OpenTimeout = 10 * time.Second
	// MessageTimeout bounds writing or reading one message.
	MessageTimeout = 10 * time.Second
)

// ErrTooLarge is returned when a message is longer than the reader allows.
var ErrTooLarge = errors.New("rpc: message too large")

// Open opens a stream to p on proto within OpenTimeout and sets its
// deadline to MessageTimeout from now, or the context's deadline if earlier.
func Open(ctx context.Context, h host.Host, p peer.ID, proto protocol.ID) (network.Stream, error) {
	octx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	s, err := h.NewStream(octx, p, proto)
	if err != nil {
		return nil, fmt.Errorf("open %s to %s: %w", proto, p, err)
	}
	_ = s.SetDeadline(deadline(ctx))
	return s, nil
}

// Send opens a stream to p on proto, writes msg and closes the stream.
func Send(ctx context.Context, h host.Host, p peer.ID, proto protocol.ID, msg []byte) error {
	s, err := Open(ctx, h, p, proto)
	if err != nil {
		return err
	}
	if _, err := s.Write(msg); err != nil {
		_ = s.Reset()
		return fmt.Errorf("send %s to %s: %w", proto, p, err)
	}
	return s.Close()
}

// Request opens a stream to p on proto, writes req, closes its write side
// and reads the answer: at most max bytes.
func Request(ctx context.Context, h host.Host, p peer.ID, proto protocol.ID, req []byte, max int64) ([]byte, error) {
	s, err := Open(ctx, h, p, proto)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if _, err := s.Write(req); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("request %s to %s: %w", proto, p, err)
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("request %s to %s: %w", proto, p, err)
	}
	b, err := readAll(s, max)
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("answer %s from %s: %w", proto, p, err)
	}
	return b, nil
}

// Read reads one whole message from s (to EOF) within MessageTimeout: at
// most max bytes, ErrTooLarge past that.
func Read(s network.Stream, max int64) ([]byte, error) {
	_ = s.SetReadDeadline(time.Now().Add(MessageTimeout))
	return readAll(s, max)
}

// Reply writes one whole answer to s within MessageTimeout and closes s.
func Reply(s network.Stream, msg []byte) error {
	_ = s.SetWriteDeadline(time.Now().Add(MessageTimeout))
	if _, err := s.Write(msg); err != nil {
		_ = s.Reset()
		return err
	}
	return s.Close()
}

func readAll(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return b, nil
}

func deadline(ctx context.Context) time.Time {
	dl := time.Now().Add(MessageTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		return d
	}
	return dl
}
