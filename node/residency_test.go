package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/catalog"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/sovereignty"
)

// A repo restricted to DE is replicated onto DE nodes only, never served to
// an FR node (catalog, bulk fetch, bitswap), each refusal audited; then a
// policy change (FR may hold one replica) takes effect on every node.
func TestReplicateResidency(t *testing.T) {
	if testing.Short() {
		t.Skip("five daemons: not in -short")
	}
	c := newTestCluster(t, fastReplication)
	de1 := c.add("de1", "DE", "mirror")
	de2 := c.add("de2", "DE", "mirror")
	de3 := c.add("de3", "DE", "mirror")
	fr1 := c.add("fr1", "FR", "mirror")
	fr2 := c.add("fr2", "FR", "mirror")
	c.waitMesh()
	c.setPolicy(de1, `
repos:
  - match: "acme/*"
    hold: [DE]
    receive: [DE]
    replicas: {min: 3, max: 3}
  - match: "*"
    hold: ["*"]
    receive: ["*"]
`, 1)
	m := addRepo(t, de1.n, "acme/secret", 300<<10)
	if _, err := de1.r.Pin(c.ctx, manifest.Model, "acme/secret", "main", 0); err != nil {
		t.Fatal(err)
	}
	des := []*testNode{de1, de2, de3}
	c.eventually(20*time.Second, "3 DE replicas", func() (bool, string) {
		for _, n := range des {
			if !n.holds("acme/secret", m.Commit) {
				return false, n.name + " lacks it"
			}
		}
		return true, ""
	})
	// Every node knows the intent; status on an FR node sees it met.
	c.eventually(10*time.Second, "status met from fr1", func() (bool, string) {
		st, err := fr1.r.Status(c.ctx, manifest.Model, "acme/secret", "main")
		if err != nil {
			return false, err.Error()
		}
		return st.Met && st.Intent != nil && len(st.Holders) == 3, fmt.Sprintf("%+v", st)
	})
	for _, n := range []*testNode{fr1, fr2} {
		if n.holds("acme/secret", m.Commit) {
			t.Errorf("%s (FR) holds acme/secret", n.name)
		}
		if es := auditEntries(t, n, sovereignty.KindReplicate); len(es) != 0 {
			t.Errorf("%s (FR) audit has replications: %+v", n.name, es)
		}
	}
	if es := auditEntries(t, de2, sovereignty.KindReplicate); len(es) != 1 || es[0].Repo != "acme/secret@main" {
		t.Errorf("de2 replicate entries = %+v, want one for acme/secret@main", es)
	}

	// FR asks DE directly: the manifest protocol refuses, the bulk fetch
	// refuses, bitswap sends nothing; FR's own Pull refuses to hold it.
	deID := de1.d.Host.ID()
	_, err := catalog.Ask(c.ctx, fr1.d.Host.Libp2p(), deID, catalog.Query{Kind: manifest.Model, Repo: "acme/secret", Revision: "main"})
	if !errors.Is(err, catalog.ErrRefused) || !strings.Contains(err.Error(), "FR") {
		t.Errorf("catalog.Ask by FR = %v, want refused naming FR", err)
	}
	fctx, fcancel := context.WithTimeout(c.ctx, 5*time.Second)
	if _, err := fr1.d.Client.Fetch(fctx, m.Root, []peerID{deID}, fetch.Options{}); err == nil {
		t.Error("bulk fetch by FR succeeded")
	}
	fcancel()
	bctx, bcancel := context.WithTimeout(c.ctx, 2*time.Second)
	if _, err := fr2.d.Host.GetBlock(bctx, m.Files[0].CID); err == nil {
		t.Error("bitswap gave FR a block of acme/secret")
	}
	bcancel()
	if _, err := fr2.d.Pull(c.ctx, manifest.Model, "acme/secret", "main", pull.Options{QueryTimeout: 3 * time.Second}); err == nil || !strings.Contains(err.Error(), "may not hold") {
		t.Errorf("Pull by FR = %v, want a policy refusal", err)
	}
	c.eventually(5*time.Second, "refusals audited", func() (bool, string) {
		var peers []string
		for _, n := range des {
			for _, e := range auditEntries(t, n, sovereignty.KindDeny) {
				if e.Repo == "acme/secret" || strings.HasPrefix(e.Repo, "acme/secret@") {
					peers = append(peers, e.Peer)
				}
			}
		}
		fr1s := slices.Contains(peers, fr1.id())
		fr2s := slices.Contains(peers, fr2.id())
		return fr1s && fr2s, fmt.Sprintf("deny entries on DE nodes name %v; want fr1 %s (catalog, fetch) and fr2 %s (bitswap)", peers, fr1.id(), fr2.id())
	})
	if es := auditEntries(t, fr2, sovereignty.KindDeny); len(es) == 0 || !strings.Contains(es[len(es)-1].Reason, "FR") {
		t.Errorf("fr2's own refusal to hold not audited: %+v", es)
	}
	if !fr1.holds("acme/secret", m.Commit) && fr1.n.Store != nil {
		if _, err := fr1.n.Store.Resolve(c.ctx, manifest.Model, "acme/secret", "main"); err == nil {
			t.Error("fr1 has acme/secret after refusals")
		}
	}

	// Policy v2: FR may hold and receive, and one replica must be in FR.
	c.setPolicy(fr2, `
repos:
  - match: "acme/*"
    hold: [DE, FR]
    receive: [DE, FR]
    replicas: {min: 3, max: 3, in: {FR: 1}}
  - match: "*"
    hold: ["*"]
    receive: ["*"]
`, 2)
	c.eventually(20*time.Second, "an FR replica after the policy change", func() (bool, string) {
		fr := 0
		for _, n := range []*testNode{fr1, fr2} {
			if n.holds("acme/secret", m.Commit) {
				fr++
			}
		}
		st, _ := de3.r.Status(c.ctx, manifest.Model, "acme/secret", "main")
		// Placement may pick both FR nodes for the two places beyond
		// the quota; at least one is the policy.
		return fr >= 1 && st.Met, fmt.Sprintf("%d FR holders; status from de3 %+v", fr, st)
	})
}

type peerID = peer.ID
