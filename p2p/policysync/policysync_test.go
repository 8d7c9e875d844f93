package policysync_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cairnhub/cairn/internal/testnet"
	"github.com/cairnhub/cairn/p2p/policysync"
	"github.com/cairnhub/cairn/p2p/rpc"
	"github.com/cairnhub/cairn/sovereignty"
)

// engine is a node's policy engine as policysync sees it, remembering
// what every Set returned.
type engine struct {
	e    *sovereignty.Engine
	mu   sync.Mutex
	errs []error
}

func (p *engine) Set(signed []byte) error {
	_, err := p.e.Set(signed)
	p.mu.Lock()
	p.errs = append(p.errs, err)
	p.mu.Unlock()
	return err
}

func (p *engine) Signed() []byte { return p.e.Signed() }

func (p *engine) version() uint64 {
	if pol := p.e.Policy(); pol != nil {
		return pol.Version
	}
	return 0
}

// refused reports whether a Set failed with target (errors.Is).
func (p *engine) refused(target error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, err := range p.errs {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

type node struct {
	nd  *testnet.Node
	pol *engine
	svc *policysync.Service
}

func add(t *testing.T, net *testnet.Net, name string) *node {
	t.Helper()
	trust, err := sovereignty.NewTrust(sovereignty.OrgPublicKey(net.Org))
	if err != nil {
		t.Fatal(err)
	}
	n := &node{pol: &engine{e: sovereignty.NewEngine(trust, nil)}}
	n.nd = net.Add(testnet.NodeOptions{Name: name, Setup: func(nd *testnet.Node) (err error) {
		n.svc, err = policysync.New(nd.Host.Libp2p(), policysync.Deps{Members: nd.Host, Policy: n.pol, Logger: nd.Log})
		if err == nil {
			nd.Go(n.svc.Run)
		}
		return err
	}})
	return n
}

func waitVersion(t *testing.T, v uint64, nodes ...*node) {
	t.Helper()
	testnet.Eventually(t, testnet.WaitTimeout, fmt.Sprintf("policy v%d everywhere", v), func() (bool, string) {
		for _, n := range nodes {
			if got := n.pol.version(); got != v {
				return false, fmt.Sprintf("%s has v%d", n.nd.Name(), got)
			}
		}
		return true, ""
	})
}

// A policy set on one node reaches every member, and a member that joins
// later; a stale, forged or foreign policy pushed by a member changes
// nothing.
func TestPolicyFloods(t *testing.T) {
	net := testnet.New(t)
	a, b, c := add(t, net, "a"), add(t, net, "b"), add(t, net, "c")
	net.WaitMesh()
	sign := func(v uint64) []byte {
		signed, err := sovereignty.SignPolicy(net.Org, []byte("repos:\n  - match: \"*\"\n    hold: [\"*\"]\n    receive: [\"*\"]\n"), v)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	v1 := sign(1)
	if err := a.pol.Set(v1); err != nil {
		t.Fatal(err)
	}
	a.svc.Broadcast(t.Context())
	waitVersion(t, 1, a, b, c)

	d := add(t, net, "d")
	waitVersion(t, 1, d)

	if err := c.pol.Set(sign(2)); err != nil {
		t.Fatal(err)
	}
	c.svc.Broadcast(t.Context())
	waitVersion(t, 2, a, b, c, d)

	// a pushes the older v1 to b by hand: refused as stale.
	if err := rpc.Send(t.Context(), a.nd.Host.Libp2p(), b.nd.ID, policysync.ProtocolID, v1); err != nil {
		t.Fatal(err)
	}
	testnet.Eventually(t, testnet.WaitTimeout, "stale policy refused", func() (bool, string) {
		return b.pol.refused(sovereignty.ErrStale), "b has not refused v1"
	})
	// A policy of another organisation, and a forged one.
	other, err := sovereignty.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := sovereignty.SignPolicy(other, []byte("repos:\n  - match: \"*\"\n    hold: [DE]\n    receive: [DE]\n"), 9)
	if err != nil {
		t.Fatal(err)
	}
	forged := sign(9)
	forged[len(forged)-2] ^= 1
	for _, bad := range [][]byte{foreign, forged} {
		if err := rpc.Send(t.Context(), a.nd.Host.Libp2p(), b.nd.ID, policysync.ProtocolID, bad); err != nil {
			t.Fatal(err)
		}
	}
	testnet.Eventually(t, testnet.WaitTimeout, "foreign and forged policies refused", func() (bool, string) {
		b.pol.mu.Lock()
		defer b.pol.mu.Unlock()
		failed := 0
		for _, err := range b.pol.errs {
			if err != nil && !errors.Is(err, sovereignty.ErrStale) {
				failed++
			}
		}
		return failed >= 2, fmt.Sprintf("%d refusals of b: %v", failed, b.pol.errs)
	})
	if got := b.pol.version(); got != 2 {
		t.Errorf("b has v%d after bad pushes, want v2", got)
	}
}
