package rpc

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

const proto = "/cairn/test-rpc/1.0.0"

func pair(t *testing.T) (a, b host.Host) {
	t.Helper()
	mk := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	a, b = mk(), mk()
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestRequestEcho(t *testing.T) {
	a, b := pair(t)
	b.SetStreamHandler(proto, func(s network.Stream) {
		m, err := Read(s, 16)
		if err != nil {
			s.Reset()
			return
		}
		Reply(s, append([]byte("re:"), m...))
	})
	got, err := Request(context.Background(), a, b.ID(), proto, []byte("hello"), 64)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte("re:hello")) {
		t.Fatalf("answer %q", got)
	}
}

func TestBounds(t *testing.T) {
	a, b := pair(t)
	errs := make(chan error, 1)
	b.SetStreamHandler(proto, func(s network.Stream) {
		_, err := Read(s, 4)
		errs <- err
		Reply(s, bytes.Repeat([]byte{'x'}, 100))
	})
	if err := Send(context.Background(), a, b.ID(), proto, []byte("too long")); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, ErrTooLarge) {
		t.Fatalf("server read: %v, want ErrTooLarge", err)
	}
	_, err := Request(context.Background(), a, b.ID(), proto, []byte("ok"), 10)
	<-errs
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("client read: %v, want ErrTooLarge", err)
	}
}

func TestUnknownProtocol(t *testing.T) {
	a, b := pair(t)
	if _, err := Request(context.Background(), a, b.ID(), "/cairn/none/1.0.0", nil, 10); err == nil {
		t.Fatal("request on a protocol the peer does not speak succeeded")
	}
}
