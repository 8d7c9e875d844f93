package p2p

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// relayMember starts a member of o whose config is changed by tweak.
func relayMember(t *testing.T, o *org, tweak func(*Config)) *Host {
	t.Helper()
	k := newKey(t)
	now := time.Now()
	cfg := testConfig(k)
	tweak(&cfg)
	return startNode(t, cfg, nodeOpts{key: k, cert: o.certify(t, k, "eu", "DE", now.Add(-time.Minute), now.Add(time.Hour)), trust: newTrust(t, o)})
}

func TestRelayedMember(t *testing.T) {
	o := newOrg(t, "acme")
	relay := relayMember(t, o, func(c *Config) { c.RelayService = true })
	edge := relayMember(t, o, func(c *Config) {
		c.Relays = []string{relay.Addrs()[0].String()}
		c.RelayRefresh = time.Second
	})
	client := member(t, o, "eu", "DE", o)
	connect(t, client, relay)
	eventually(t, 15*time.Second, "edge advertises a relayed address", func() bool { return len(edge.RelayAddrs()) > 0 })
	for _, a := range edge.RelayAddrs() {
		if !strings.Contains(a.String(), "/p2p/"+relay.ID().String()+"/p2p-circuit") {
			t.Fatalf("relayed address %s does not go through the relay", a)
		}
	}
	eventually(t, 10*time.Second, "identify carries the relayed address", func() bool {
		for _, a := range edge.raw.Addrs() {
			if strings.Contains(a.String(), "p2p-circuit") {
				return true
			}
		}
		return false
	})

	// The client knows the edge only by its relayed address.
	client.raw.Peerstore().ClearAddrs(edge.ID())
	edge.Handle("/cairn/test-relay/1.0.0", func(s network.Stream) {
		defer s.Close()
		io.Copy(s, s)
	})
	ctx, cancel := contextWithTimeout(t, 15*time.Second)
	defer cancel()
	if err := client.Connect(ctx, peer.AddrInfo{ID: edge.ID(), Addrs: edge.RelayAddrs()}); err != nil {
		t.Fatalf("connect through the relay: %v", err)
	}
	relayed := false
	for _, c := range client.raw.Network().ConnsToPeer(edge.ID()) {
		relayed = relayed || strings.Contains(c.RemoteMultiaddr().String(), "p2p-circuit")
	}
	if !relayed {
		t.Fatal("no relayed connection to the edge")
	}
	eventually(t, 5*time.Second, "the edge sees the client as a member", func() bool { _, ok := edge.Member(client.ID()); return ok })
	s, err := client.Libp2p().NewStream(ctx, edge.ID(), "/cairn/test-relay/1.0.0")
	if err != nil {
		t.Fatalf("stream through the relay: %v", err)
	}
	s.Write([]byte("hello edge"))
	s.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "hello edge" {
		t.Fatalf("echo through the relay = %q, %v", got, err)
	}
}

func TestRelayServesMembersOnly(t *testing.T) {
	o := newOrg(t, "acme")
	relay := relayMember(t, o, func(c *Config) { c.RelayService = true })
	m := member(t, o, "eu", "DE", o)
	connect(t, m, relay)
	acl := memberACL{relay}
	outsider := newKey(t)
	out, _ := peer.IDFromPrivateKey(outsider)
	if !acl.AllowReserve(m.ID(), nil) {
		t.Fatal("a member may not reserve")
	}
	if acl.AllowReserve(out, nil) || acl.AllowConnect(out, nil, m.ID()) || acl.AllowConnect(m.ID(), nil, out) {
		t.Fatal("the relay serves a non-member")
	}
}
