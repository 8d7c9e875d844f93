package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// A plain libp2p host (no certificate, no hello) gets no ping answer from a
// member; members measure each other with ping (TestMembers' RTT).
func TestPingMembersOnly(t *testing.T) {
	acme := newOrg(t, "acme")
	a := member(t, acme, "eu-central", "DE", acme)
	raw, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := raw.Connect(ctx, a.AddrInfo()); err != nil {
		return // refused before any stream: nothing answered either
	}
	if res := <-ping.Ping(ctx, raw, a.ID()); res.Error == nil {
		t.Fatalf("a non-member got a ping answer (rtt %v)", res.RTT)
	}
}
