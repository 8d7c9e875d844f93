package release_test

import (
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/internal/testnet"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/release"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// receivable lets members receive the repos it names, no others.
type receivable map[string]bool

func (r receivable) Decide(_ sovereignty.Action, repo string, _ *sovereignty.Member) sovereignty.Decision {
	if r[repo] {
		return sovereignty.Decision{Allow: true}
	}
	return sovereignty.Decision{Reason: "not receivable"}
}

func add(t *testing.T, net *testnet.Net, name string, policy receivable) (*testnet.Node, **release.Service) {
	t.Helper()
	svc := new(*release.Service)
	nd := net.Add(testnet.NodeOptions{Name: name, Setup: func(nd *testnet.Node) error {
		*svc = release.New(nd.Host.Libp2p(), release.Deps{Members: nd.Host, Policy: policy, Store: nd.Store, Logger: nd.Log})
		return nil
	}})
	return nd, svc
}

func quarantine(t *testing.T, st *store.Store, repo string, signed []byte) *manifest.Manifest {
	t.Helper()
	m := &manifest.Manifest{Type: manifest.Model, Repo: repo, Commit: strings.Repeat("ab", 20)}
	if err := st.Quarantine(t.Context(), store.Quarantine{Kind: m.Type, Repo: m.Repo, Commit: m.Commit, Reasons: []string{"unsafe pickle"}, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if signed != nil {
		if err := st.Release(t.Context(), m.Type, m.Repo, m.Commit, signed); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// A member answers with the release it holds of a revision, and nothing
// for a revision still quarantined or a repo the asker may not receive.
func TestAskReleaseOfSources(t *testing.T) {
	net := testnet.New(t)
	a, asvc := add(t, net, "a", receivable{"acme/released": true, "acme/held": true})
	b, bsvc := add(t, net, "b", receivable{})
	net.WaitMesh()
	doc := []byte("signed release document")
	released := quarantine(t, a.Store, "acme/released", doc)
	held := quarantine(t, a.Store, "acme/held", nil)
	from := []peer.ID{a.ID}
	if got := (*bsvc).Ask(t.Context(), released, from); string(got) != string(doc) {
		t.Fatalf("Ask(released) = %q, want the release", got)
	}
	if got := (*bsvc).Ask(t.Context(), held, from); got != nil {
		t.Fatalf("Ask(still quarantined) = %q, want none", got)
	}
	// b's policy lets a receive nothing: b holds the release too but does
	// not give it to a.
	quarantine(t, b.Store, "acme/released", doc)
	if got := (*asvc).Ask(t.Context(), released, []peer.ID{b.ID}); got != nil {
		t.Fatalf("Ask of a member whose policy refuses the repo = %q, want none", got)
	}
}
