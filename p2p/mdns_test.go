package p2p

import (
	"testing"
	"time"
)

// TestMDNSDiscovery: two members with mDNS on find and join each other without any
// address configured.
func TestMDNSDiscovery(t *testing.T) {
	if testing.Short() {
		t.Skip("mDNS discovery waits for multicast announcements; skipped with -short")
	}
	acme := newOrg(t, "acme")
	now := time.Now()
	mk := func() *Host {
		k := newKey(t)
		cfg := testConfig(k)
		cfg.MDNS = true
		return startNode(t, cfg, nodeOpts{key: k, trust: newTrust(t, acme),
			cert: acme.certify(t, k, "lan", "DE", now.Add(-time.Minute), now.Add(time.Hour))})
	}
	a, b := mk(), mk()
	eventually(t, 20*time.Second, "mDNS peers joined", func() bool {
		_, ok1 := a.Member(b.ID())
		_, ok2 := b.Member(a.ID())
		return ok1 && ok2
	})
}
