package fetch

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/store"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// newHost starts a libp2p host on 127.0.0.1 with the named transports
// ("tcp", "quic"; both when none are named) and the options fetch
// recommends for bulk transfer.
func newHost(tb testing.TB, transports ...string) host.Host {
	tb.Helper()
	if len(transports) == 0 {
		transports = []string{"tcp", "quic"}
	}
	opts := []libp2p.Option{libp2p.NoTransports, libp2p.DisableRelay()}
	var listen []string
	for _, t := range transports {
		switch t {
		case "tcp":
			opts = append(opts, libp2p.Transport(tcp.NewTCPTransport))
			listen = append(listen, "/ip4/127.0.0.1/tcp/0")
		case "quic":
			opts = append(opts, libp2p.Transport(quic.NewTransport))
			listen = append(listen, "/ip4/127.0.0.1/udp/0/quic-v1")
		default:
			tb.Fatalf("newHost: transport %q", t)
		}
	}
	opts = append(opts, libp2p.ListenAddrStrings(listen...))
	hostOpts, err := HostOptions()
	if err != nil {
		tb.Fatal(err)
	}
	opts = append(opts, hostOpts...)
	h, err := libp2p.New(opts...)
	if err != nil {
		tb.Fatalf("libp2p.New: %v", err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

func connect(tb testing.TB, from, to host.Host, addrs ...ma.Multiaddr) {
	tb.Helper()
	if len(addrs) == 0 {
		addrs = to.Addrs()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := from.Connect(ctx, peer.AddrInfo{ID: to.ID(), Addrs: addrs}); err != nil {
		tb.Fatalf("connect %s: %v", to.ID(), err)
	}
}

func newStore(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(store.Options{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("store.Open: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

// importFile adds data as a file DAG of fixed-size leaves.
func importFile(tb testing.TB, st chunker.Putter, data []byte, leaf int) chunker.FileResult {
	tb.Helper()
	return importReader(tb, st, bytes.NewReader(data), int64(len(data)), leaf)
}

func importReader(tb testing.TB, st chunker.Putter, r io.ReaderAt, size int64, leaf int) chunker.FileResult {
	tb.Helper()
	res, err := chunker.ImportFile(context.Background(), st, r, size, "data.bin",
		chunker.Options{Strategy: chunker.Fixed, FixedSize: leaf})
	if err != nil {
		tb.Fatalf("ImportFile: %v", err)
	}
	return res
}

// readFile reads the file DAG at root back from st.
func readFile(tb testing.TB, st chunker.Getter, root cid.Cid) []byte {
	tb.Helper()
	r, err := chunker.NewReader(context.Background(), st, root)
	if err != nil {
		tb.Fatalf("NewReader: %v", err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		tb.Fatalf("read %s: %v", root, err)
	}
	return b
}

func allowAll(peer.ID, cid.Cid) error { return nil }

// source is a host serving a store.
type source struct {
	h   host.Host
	st  *store.Store
	srv *Server
}

func newSource(tb testing.TB, src Source, st *store.Store, gate Gate, transports ...string) *source {
	tb.Helper()
	h := newHost(tb, transports...)
	if src == nil {
		src = st
	}
	srv, err := NewServer(h, src, gate, ServerConfig{})
	if err != nil {
		tb.Fatalf("NewServer: %v", err)
	}
	srv.Register()
	return &source{h: h, st: st, srv: srv}
}

// corrupt serves a store but flips a byte of every raw leaf it sends.
type corrupt struct{ st *store.Store }

func (c corrupt) Has(ctx context.Context, k cid.Cid) (bool, error) { return c.st.Has(ctx, k) }
func (c corrupt) View(ctx context.Context, k cid.Cid, fn func([]byte) error) error {
	return c.st.View(ctx, k, func(b []byte) error {
		if k.Type() != cid.Raw || len(b) == 0 {
			return fn(b)
		}
		bad := append([]byte(nil), b...)
		bad[len(bad)/2] ^= 0xff
		return fn(bad)
	})
}

// hook serves a store and calls fn before the n-th raw leaf it sends.
type hook struct {
	st    *store.Store
	n     int64
	count atomic.Int64
	fn    func()
}

func (h *hook) Has(ctx context.Context, k cid.Cid) (bool, error) { return h.st.Has(ctx, k) }
func (h *hook) View(ctx context.Context, k cid.Cid, fn func([]byte) error) error {
	if k.Type() == cid.Raw && h.count.Add(1) == h.n {
		h.fn()
	}
	return h.st.View(ctx, k, fn)
}

// delayProxy forwards TCP connections to target, holding every byte for
// oneWay in each direction: a link with 2×oneWay round-trip time and
// loopback bandwidth. It returns the multiaddr to dial.
func delayProxy(tb testing.TB, target ma.Multiaddr, oneWay time.Duration) ma.Multiaddr {
	tb.Helper()
	_, taddr, err := manetDialArgs(target)
	if err != nil {
		tb.Fatalf("delayProxy: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("delayProxy: %v", err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				d, err := net.Dial("tcp", taddr)
				if err != nil {
					c.Close()
					return
				}
				go delayPump(d, c, oneWay)
				delayPump(c, d, oneWay)
			}()
		}
	}()
	a, err := ma.NewMultiaddr("/ip4/127.0.0.1/tcp/" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

type chunk struct {
	due  time.Time
	data []byte
}

// delayPump copies src to dst, each read delivered delay after it arrived.
func delayPump(dst, src net.Conn, delay time.Duration) {
	q := make(chan chunk, 1<<16)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 64<<10)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{due: time.Now().Add(delay), data: b[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	defer dst.Close()
	defer src.Close()
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := dst.Write(c.data); err != nil {
			return
		}
	}
}

func manetDialArgs(a ma.Multiaddr) (string, string, error) {
	ip, err := a.ValueForProtocol(ma.P_IP4)
	if err != nil {
		return "", "", err
	}
	port, err := a.ValueForProtocol(ma.P_TCP)
	if err != nil {
		return "", "", err
	}
	return "tcp", net.JoinHostPort(ip, port), nil
}

func tcpAddr(tb testing.TB, h host.Host) ma.Multiaddr {
	tb.Helper()
	for _, a := range h.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			return a
		}
	}
	tb.Fatalf("host %s has no TCP address", h.ID())
	return nil
}
