package auditsync_test

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cairnhub/cairn/internal/testnet"
	"github.com/cairnhub/cairn/p2p/auditsync"
	"github.com/cairnhub/cairn/sovereignty"
)

type node struct {
	nd  *testnet.Node
	log *sovereignty.Audit
	svc *auditsync.Service
}

// add starts a member with its own audit log, signed with its identity
// key, and the checkpoint service on its host.
func add(t *testing.T, net *testnet.Net, name string) *node {
	t.Helper()
	n := &node{}
	n.nd = net.Add(testnet.NodeOptions{Name: name, Setup: func(nd *testnet.Node) error {
		raw, err := nd.Key.Raw()
		if err != nil {
			return err
		}
		if n.log == nil {
			n.log, err = sovereignty.OpenAuditWith(filepath.Join(nd.Dir, "audit.log"),
				sovereignty.AuditOptions{Signer: sovereignty.KeySigner(ed25519.PrivateKey(raw)), Node: nd.ID.String()})
			if err != nil {
				return err
			}
			t.Cleanup(func() { n.log.Close() })
		}
		n.svc = auditsync.New(auditsync.Config{Log: n.log, Self: nd.ID, Logger: nd.Log})
		n.svc.Serve(t.Context(), nd.Host.Libp2p(), nd.Host)
		return nil
	}})
	return n
}

// A checkpoint pushed to a member is kept there and given back to its
// node when asked; one naming another node than its key's is refused.
func TestCheckpointKeptAndAsked(t *testing.T) {
	net := testnet.New(t)
	a, b := add(t, net, "a"), add(t, net, "b")
	net.WaitMesh()
	if held, err := a.svc.Ask(t.Context()); err != nil || len(held) != 0 {
		t.Fatalf("Ask before any push = %v, %v; want none", held, err)
	}
	for i := range 3 {
		if err := a.log.Append(sovereignty.Entry{Kind: sovereignty.KindExport, Subject: fmt.Sprint("bundle ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := a.log.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	a.svc.Push(t.Context(), cp)
	testnet.Eventually(t, testnet.WaitTimeout, "b keeps a's checkpoint", func() (bool, string) {
		got, ok := b.svc.Held(a.nd.ID.String())
		return ok && got.Seq == cp.Seq, fmt.Sprintf("%v %+v", ok, got)
	})
	forged := cp
	forged.Node = b.nd.ID.String()
	if err := b.svc.Keep(forged); err == nil {
		t.Error("b kept a checkpoint naming b signed by a's key")
	}
	held, err := a.svc.Ask(t.Context())
	if err != nil || len(held) != 1 || held[0].Seq != cp.Seq || held[0].Head != cp.Head {
		t.Fatalf("Ask = %+v, %v; want b's copy of seq %d", held, err, cp.Seq)
	}
}

// Without Serve (peer-to-peer off) there is no member to ask.
func TestAskWithoutHost(t *testing.T) {
	svc := auditsync.New(auditsync.Config{})
	if _, err := svc.Ask(t.Context()); err == nil {
		t.Fatal("Ask without a host did not fail")
	}
}
