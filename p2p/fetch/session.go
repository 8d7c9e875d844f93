package fetch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	msmux "github.com/multiformats/go-multistream"
)

// session is the client's one stream to a peer: requests go out
// pipelined, frames come back in request order.
type session struct {
	st network.Stream
	rw io.ReadWriter // multistream-negotiating view of st
	r  *bufio.Reader
}

// openSession opens a fetch stream to p. When p is connected over several
// transports, the connection whose transport starts with prefer (e.g.
// "tcp", "quic") carries the stream: bulk throughput differs a lot
// between them.
func openSession(ctx context.Context, h host.Host, p peer.ID, prefer string) (*session, error) {
	return openSessionBuf(ctx, h, p, prefer, frameBuf)
}

// frameBuf is the read buffer of a fetch stream and the write buffer of
// the server's side: enough for the small frames and the headers, small
// enough that a block's bytes, read or written whole, pass it by (bufio
// moves reads and writes of at least its size directly). A 256 KiB buffer
// copied most of every block one more time on each end.
const frameBuf = 32 << 10

// haveBuf is the read buffer of a stream that carries only have-sets: a
// swarm node keeps one per partial holder, so it is small.
const haveBuf = 16 << 10

// openSessionBuf is openSession with a read buffer of bufSize bytes.
func openSessionBuf(ctx context.Context, h host.Host, p peer.ID, prefer string, bufSize int) (*session, error) {
	if h.Network().Connectedness(p) != network.Connected {
		if err := h.Connect(ctx, peer.AddrInfo{ID: p}); err != nil {
			return nil, fmt.Errorf("connect %s: %w", p, err)
		}
	}
	// Only when the peer has several connections and one runs the
	// preferred transport do we pick it ourselves; otherwise the host
	// (which may gate outgoing streams) opens the stream.
	var conn network.Conn
	usable := 0
	for _, c := range h.Network().ConnsToPeer(p) {
		if c.IsClosed() || c.Stat().Limited {
			continue
		}
		usable++
		if conn == nil && prefer != "" && strings.HasPrefix(c.ConnState().Transport, prefer) {
			conn = c
		}
	}
	if usable < 2 {
		conn = nil
	}
	var st network.Stream
	var rw io.ReadWriter
	if conn != nil {
		s, err := conn.NewStream(ctx)
		if err != nil {
			return nil, fmt.Errorf("open stream to %s: %w", p, err)
		}
		if err := s.SetProtocol(ProtocolID); err != nil {
			s.Reset()
			return nil, fmt.Errorf("open stream to %s: %w", p, err)
		}
		st, rw = s, msmux.NewMSSelect(s, ProtocolID)
	} else {
		s, err := h.NewStream(ctx, p, ProtocolID)
		if err != nil {
			return nil, fmt.Errorf("open stream to %s: %w", p, err)
		}
		st, rw = s, s
	}
	return &session{st: st, rw: rw, r: bufio.NewReaderSize(rw, bufSize)}, nil
}

func (s *session) send(r Request) error {
	_ = s.st.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := writeRequest(s.rw, r); err != nil {
		return fmt.Errorf("send %s request: %w", r.Kind, err)
	}
	return nil
}

// read reads one frame, failing when none starts within timeout.
func (s *session) read(timeout time.Duration) (Frame, error) {
	_ = s.st.SetReadDeadline(time.Now().Add(timeout))
	f, err := ReadFrame(s.r)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return f, err
}

func (s *session) close() { _ = s.st.Reset() }
