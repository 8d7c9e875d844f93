package fetch

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// countConn counts the writes that reach a connection.
type countConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// tlsPair secures both ends of a loopback TCP connection: the client with
// batchTLS (its raw connection counted), the server with go-libp2p's own
// TLS transport.
func tlsPair(t *testing.T) (client net.Conn, server net.Conn, raw *countConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ckey, _, _ := ic.GenerateEd25519Key(rand.Reader)
	skey, _, _ := ic.GenerateEd25519Key(rand.Reader)
	sid, _ := peer.IDFromPrivateKey(skey)
	ct, err := newBatchTLS(libp2ptls.ID, ckey, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := libp2ptls.New(libp2ptls.ID, skey, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var serr error
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			serr = err
			return
		}
		server, serr = st.SecureInbound(ctx, c, "")
	})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	raw = &countConn{Conn: c}
	client, err = ct.SecureOutbound(ctx, raw, sid)
	wg.Wait()
	if err != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", err, serr)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server, raw
}

// TestBatchTLSGathersRecords: a 1 MiB Write, 64 TLS records, reaches the
// kernel in a few write(2)s, and the peer (stock go-libp2p TLS) reads
// every byte; single-record writes and the handshake go straight through.
func TestBatchTLSGathersRecords(t *testing.T) {
	client, server, raw := tlsPair(t)
	msg := randomBytes(1<<20, 7)
	small := []byte("one record")
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(server, int64(len(msg)+len(small))))
		got <- b
	}()
	before := raw.writes.Load()
	if _, err := client.Write(msg); err != nil {
		t.Fatal(err)
	}
	bulk := raw.writes.Load() - before
	if _, err := client.Write(small); err != nil {
		t.Fatal(err)
	}
	if n := raw.writes.Load() - before - bulk; n != 1 {
		t.Errorf("a one-record write took %d write(2)s", n)
	}
	// 1 MiB of records with their overhead fills four 256 KiB batches
	// and spills into a fifth; crypto/tls alone writes 64.
	if want := int64(len(msg)/batchBuf + 1); bulk > want {
		t.Errorf("1 MiB went out in %d write(2)s, want at most %d", bulk, want)
	}
	if b := <-got; !bytes.Equal(b, append(msg, small...)) {
		t.Fatalf("peer read %d bytes, not what was written", len(b))
	}
}

// TestBatchTLSConcurrentClose: writes of many sizes from several
// goroutines, then Close (which writes an alert from its own goroutine)
// while they run; run with -race. The peer reads a prefix of whole
// writes, never a torn record.
func TestBatchTLSConcurrentClose(t *testing.T) {
	client, server, _ := tlsPair(t)
	go io.Copy(io.Discard, server)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				n := 1 + (i*7919+g*104729)%(600<<10)
				if _, err := client.Write(randomBytes(n, uint64(i))); err != nil {
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	client.Close()
	wg.Wait()
}

// TestHostOptionsTalkToStockTLS: a host with HostOptions (batchTLS) and a
// host with go-libp2p's stock TLS only exchange a bulk stream both ways.
func TestHostOptionsTalkToStockTLS(t *testing.T) {
	ours := newHost(t, "tcp")
	stock, err := libp2p.New(libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Security(libp2ptls.ID, libp2ptls.New))
	if err != nil {
		t.Fatal(err)
	}
	defer stock.Close()
	const proto = "/cairn/test/echo"
	echo := func(s network.Stream) { io.Copy(s, s); s.CloseWrite() }
	ours.SetStreamHandler(proto, echo)
	stock.SetStreamHandler(proto, echo)
	msg := randomBytes(3<<20+123, 9)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	connect(t, stock, ours)
	for _, dir := range []struct {
		name string
		from host.Host
		to   peer.ID
	}{{"stock to ours", stock, ours.ID()}, {"ours to stock", ours, stock.ID()}} {
		s, err := dir.from.NewStream(ctx, dir.to, proto)
		if err != nil {
			t.Fatalf("%s: %v", dir.name, err)
		}
		go func() { s.Write(msg); s.CloseWrite() }()
		b, err := io.ReadAll(s)
		if err != nil || !bytes.Equal(b, msg) {
			t.Fatalf("%s: echoed %d bytes (%v), want the %d sent", dir.name, len(b), err, len(msg))
		}
		if sec := s.Conn().ConnState().Security; sec != libp2ptls.ID {
			t.Fatalf("%s: security %s, want %s", dir.name, sec, libp2ptls.ID)
		}
		s.Close()
	}
}
