package p2p

import (
	"context"
	"encoding/binary"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	autonatpb "github.com/libp2p/go-libp2p/p2p/host/autonat/pb"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	circuitpb "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	circuitproto "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	msmux "github.com/multiformats/go-multistream"
	"google.golang.org/protobuf/proto"
)

// rawStream opens proto to p on the open connection without waiting for
// identify, as a stranger probing a node would.
func rawStream(ctx context.Context, h host.Host, p peer.ID, proto protocol.ID) (network.Stream, error) {
	s, err := h.Network().NewStream(network.WithNoDial(ctx, "probe"), p)
	if err != nil {
		return nil, err
	}
	if err := msmux.SelectProtoOrFail(proto, s); err != nil {
		_ = s.Reset()
		return nil, err
	}
	return s, nil
}

// delimited is a protobuf message with its uvarint length, as libp2p frames them.
func delimited(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}

// TestStrangerLearnsNothing: a plain libp2p host (no certificate) connected to a
// Cairn relay mirror learns nothing from it: its identify of the mirror yields
// no agent, protocols or addresses, no identify push reaches it, and
// identify, ping, relay hop and AutoNAT streams answer no byte, even to
// well-formed requests; nor does the mirror take the stranger's identify.
func TestStrangerLearnsNothing(t *testing.T) {
	acme := newOrg(t, "acme")
	k := newKey(t)
	now := time.Now()
	cfg := testConfig(k)
	cfg.RelayService = true
	a := startNode(t, cfg, nodeOpts{key: k, cert: acme.certify(t, k, "x", "DE", now.Add(-time.Minute), now.Add(time.Hour)), trust: newTrust(t, acme)})
	// go-libp2p registers the relay hop once the relay service starts.
	eventually(t, 10*time.Second, "relay hop registered", func() bool {
		return slices.Contains(a.raw.Mux().Protocols(), circuitproto.ProtoIDv2Hop)
	})
	x, dialled := dialStranger(t, a)
	// A new protocol makes identify push the mirror's new protocol list to
	// every connection it tracks, the stranger's included: it tracks it once
	// a stream of the stranger's is negotiated (go-libp2p accepts streams
	// only after the connection notifications).
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if s, err := rawStream(ctx, x, a.ID(), identify.ID); err != nil {
		t.Fatalf("stranger's first stream: %v", err)
	} else {
		_ = s.Reset()
	}
	a.Handle("/cairn/test-push/1.0.0", func(s network.Stream) { _ = s.Reset() })
	probes := []probe{
		{identify.ID, nil},
		{ping.ID, make([]byte, ping.PingSize)},
		{circuitproto.ProtoIDv2Hop, delimited(t, &circuitpb.HopMessage{Type: circuitpb.HopMessage_RESERVE.Enum()})},
		{"/libp2p/autonat/1.0.0", delimited(t, &autonatpb.Message{Type: autonatpb.Message_DIAL.Enum(),
			Dial: &autonatpb.Message_Dial{Peer: &autonatpb.Message_PeerInfo{Id: []byte(x.ID()), Addrs: [][]byte{x.Addrs()[0].Bytes()}}}})},
	}
	probeAll(t, x, a, probes)

	// go-libp2p's own identify of the mirror has finished (failed) by now.
	if c := x.Network().ConnsToPeer(a.ID()); len(c) > 0 {
		<-x.(interface{ IDService() identify.IDService }).IDService().IdentifyWait(c[0])
	}
	if v, err := x.Peerstore().Get(a.ID(), "AgentVersion"); err == nil {
		t.Errorf("stranger's peerstore holds the mirror's agent %q", v)
	}
	if ps, _ := x.Peerstore().GetProtocols(a.ID()); len(ps) > 0 {
		t.Errorf("stranger's peerstore holds the mirror's protocols %v", ps)
	}
	for _, addr := range x.Peerstore().Addrs(a.ID()) {
		if !addr.Equal(dialled) {
			t.Errorf("stranger's peerstore holds the mirror's address %s, beyond the one it dialled", addr)
		}
	}
	if res := <-ping.Ping(ctx, x, a.ID()); res.Error == nil {
		t.Errorf("the stranger got a ping answer (rtt %v)", res.RTT)
	}
	eventually(t, 10*time.Second, "the mirror refuses the stranger", func() bool {
		_, ok := a.Refused(x.ID())
		return ok
	})
	// Nor did the mirror take anything from the stranger's identify.
	if v, err := a.raw.Peerstore().Get(x.ID(), "AgentVersion"); err == nil {
		t.Errorf("mirror's peerstore holds the stranger's agent %q", v)
	}
	if ps, _ := a.raw.Peerstore().GetProtocols(x.ID()); len(ps) > 0 {
		t.Errorf("mirror's peerstore holds the stranger's protocols %v", ps)
	}
}

// TestGateWrapsConfiguredResourceManager: a resource manager given in
// Deps.Options (the node passes fetch.HostOptions) is gated as well, and
// keeps its connection limit visible.
func TestGateWrapsConfiguredResourceManager(t *testing.T) {
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(rcmgr.DefaultLimits.AutoScale()))
	if err != nil {
		t.Fatal(err)
	}
	acme := newOrg(t, "acme")
	k := newKey(t)
	now := time.Now()
	a := newNode(t, nodeOpts{key: k, cert: acme.certify(t, k, "x", "DE", now.Add(-time.Minute), now.Add(time.Hour)),
		trust: newTrust(t, acme), options: []libp2p.Option{libp2p.ResourceManager(rm)}})
	if _, ok := a.raw.Network().ResourceManager().(connmgr.GetConnLimiter); !ok {
		t.Errorf("the gated resource manager hides the connection limit")
	}
	x, _ := dialStranger(t, a)
	probeAll(t, x, a, []probe{{identify.ID, nil}})
	b := member(t, acme, "b", "DE", acme)
	connect(t, b, a)
	identified(t, b, a)
}

// dialStranger starts a plain libp2p host and dials a's TCP address. It does
// not use host.Connect, which would wait for identify, which lasts until a
// gives up on the stranger's hello.
func dialStranger(t *testing.T, a *Host) (host.Host, ma.Multiaddr) {
	t.Helper()
	x, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	var dialled ma.Multiaddr
	for _, addr := range a.raw.Addrs() {
		if _, err := addr.ValueForProtocol(ma.P_TCP); err == nil {
			dialled = addr
		}
	}
	x.Peerstore().AddAddr(a.ID(), dialled, time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := x.Network().DialPeer(ctx, a.ID()); err != nil {
		t.Fatalf("stranger dial: %v", err)
	}
	return x, dialled
}

// probe is a request a stranger sends on proto (nil: it only listens).
type probe struct {
	proto protocol.ID
	send  []byte
}

// probeAll sends every probe from x to a at once, while x is still connected
// (a disconnects it at the hello timeout), and fails on any byte answered.
func probeAll(t *testing.T, x host.Host, a *Host, probes []probe) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, pr := range probes {
		wg.Go(func() {
			s, err := rawStream(ctx, x, a.ID(), pr.proto)
			if err != nil {
				t.Errorf("%s: not negotiated (%v): the probe tests nothing", pr.proto, err)
				return
			}
			defer s.Reset()
			_ = s.SetDeadline(time.Now().Add(2 * a.cfg.HelloTimeout))
			if len(pr.send) > 0 {
				_, _ = s.Write(pr.send)
			}
			got, err := io.ReadAll(s)
			if len(got) > 0 {
				t.Errorf("%s: the stranger read %d bytes (%v)", pr.proto, len(got), err)
			}
		})
	}
	wg.Wait()
}

// TestMembersIdentifyEachOther: identify waits for the hello but completes:
// members learn each other's agent and protocols, put each other in the DHT
// routing table and stay connected; so does a member that joins later, which
// finds the others through the DHT.
func TestMembersIdentifyEachOther(t *testing.T) {
	acme := newOrg(t, "acme")
	a := member(t, acme, "a", "DE", acme)
	b := member(t, acme, "b", "DE", acme)
	connect(t, b, a)
	identified(t, a, b)
	identified(t, b, a)

	c := member(t, acme, "c", "FR", acme)
	connect(t, c, a)
	identified(t, a, c)
	identified(t, c, a)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ai, err := c.dht.FindPeer(ctx, b.ID())
	if err != nil || len(ai.Addrs) == 0 {
		t.Fatalf("late member FindPeer(b) = %v, %v; want b's addresses", ai, err)
	}
	for _, pair := range [][2]*Host{{a, b}, {a, c}} {
		if pair[0].raw.Network().Connectedness(pair[1].ID()) != network.Connected {
			t.Errorf("%s disconnected from %s", pair[0].ID().ShortString(), pair[1].ID().ShortString())
		}
	}
}

// identified waits until h has identified member p: agent "cairn", the
// Cairn protocols, p in the DHT routing table.
func identified(t *testing.T, h, p *Host) {
	t.Helper()
	kad := ProtocolPrefix + "/kad/1.0.0"
	eventually(t, 10*time.Second, h.ID().ShortString()+" identified "+p.ID().ShortString(), func() bool {
		agent, _ := h.raw.Peerstore().Get(p.ID(), "AgentVersion")
		ps, _ := h.raw.Peerstore().SupportsProtocols(p.ID(), kad, ProtocolRevocations, ping.ID)
		return agent == "cairn" && len(ps) == 3 && h.dht.RoutingTable().Find(p.ID()) != ""
	})
}

// TestRoutingTableWithoutIdentify: when identify taught nothing about a
// member (a hello slower than identify's timeout), the member still enters
// the DHT routing table: the DHT protocol is negotiated instead.
func TestRoutingTableWithoutIdentify(t *testing.T) {
	acme := newOrg(t, "acme")
	a := member(t, acme, "a", "DE", acme)
	b := member(t, acme, "b", "DE", acme)
	connect(t, b, a)
	identified(t, a, b)
	// What a failed identify leaves: no protocols, not in the table.
	known, _ := a.raw.Peerstore().GetProtocols(b.ID())
	if err := a.raw.Peerstore().RemoveProtocols(b.ID(), known...); err != nil {
		t.Fatal(err)
	}
	a.dht.RoutingTable().RemovePeer(b.ID())
	a.addToRoutingTable(b.ID())
	if a.dht.RoutingTable().Find(b.ID()) == "" {
		t.Errorf("member without identify not in the routing table")
	}
}
