package fetch

import (
	"context"
	"net"
	"sync"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/sec"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

// batchTLS is go-libp2p's TLS security transport with one change: the
// records of one Write reach the kernel in write(2)s of up to batchBuf
// bytes. crypto/tls writes every record (16 KiB at most) by itself, and a
// bulk stream paid one system call per record: on loopback, 16 KiB writes
// cost 1.4-1.6 times the CPU of 256 KiB writes of the same bytes (sender
// and receiver together), far more than the copy that gathers them. The
// bytes on the wire are the same, so any libp2p TLS peer understands them.
type batchTLS struct{ *libp2ptls.Transport }

// batchBuf is the most bytes one write(2) of gathered records carries.
const batchBuf = 256 << 10

// maxRecord is the largest TLS record's plaintext: a Write no larger is
// one record, which there is nothing to gather with.
const maxRecord = 16 << 10

// newBatchTLS has libp2ptls.New's signature, as libp2p.Security wants.
func newBatchTLS(id protocol.ID, key ic.PrivKey, muxers []tptu.StreamMuxer) (sec.SecureTransport, error) {
	t, err := libp2ptls.New(id, key, muxers)
	if err != nil {
		return nil, err
	}
	return batchTLS{t}, nil
}

func (t batchTLS) SecureInbound(ctx context.Context, insecure net.Conn, p peer.ID) (sec.SecureConn, error) {
	bc := &batchConn{Conn: insecure}
	return bc.secured(t.Transport.SecureInbound(ctx, bc, p))
}

func (t batchTLS) SecureOutbound(ctx context.Context, insecure net.Conn, p peer.ID) (sec.SecureConn, error) {
	bc := &batchConn{Conn: insecure}
	return bc.secured(t.Transport.SecureOutbound(ctx, bc, p))
}

// secured wraps sc, the TLS connection over bc, so that its Writes gather.
func (bc *batchConn) secured(sc sec.SecureConn, err error) (sec.SecureConn, error) {
	if err != nil {
		return nil, err
	}
	return &batchSecureConn{SecureConn: sc, bc: bc}, nil
}

// batchSecureConn is a TLS connection whose Writes of several records
// gather them below.
type batchSecureConn struct {
	sec.SecureConn
	wmu sync.Mutex // one gathering Write at a time
	bc  *batchConn
}

func (c *batchSecureConn) Write(p []byte) (int, error) {
	if len(p) <= maxRecord {
		return c.SecureConn.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.bc.gather()
	n, err := c.SecureConn.Write(p)
	if ferr := c.bc.flush(); err == nil {
		err = ferr
	}
	return n, err
}

// batchConn is the connection below TLS. Between gather and flush, what
// TLS writes is appended to a buffer and sent when the buffer fills or at
// flush; otherwise (handshake, alerts, single records) writes go straight
// through. The buffer is held only between the two, so an idle
// connection keeps none.
type batchConn struct {
	net.Conn
	// mu orders writes: TLS may write an alert (Close) or a key update
	// (Read) from another goroutine right after a gathering Write's
	// records, and those must follow them.
	mu  sync.Mutex
	buf *[]byte // nil: not gathering
}

var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, batchBuf); return &b }}

func (c *batchConn) gather() {
	c.mu.Lock()
	c.buf = batchBufs.Get().(*[]byte)
	c.mu.Unlock()
}

// flush sends what was gathered and ends gathering.
func (c *batchConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.sendLocked()
	batchBufs.Put(c.buf)
	c.buf = nil
	return err
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.Conn.Write(p)
	}
	if len(*c.buf)+len(p) > batchBuf {
		if err := c.sendLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) > batchBuf {
		return c.Conn.Write(p)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// sendLocked writes the gathered bytes.
func (c *batchConn) sendLocked() error {
	b := *c.buf
	*c.buf = b[:0]
	if len(b) == 0 {
		return nil
	}
	_, err := c.Conn.Write(b)
	return err
}
