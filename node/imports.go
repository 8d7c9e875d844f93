package node

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cairnhub/cairn/sovereignty"
)

// policyTrust is the trust that signs this node's residency policy: only
// its own organisation, even when it trusts other organisations' members
// (federation). Without a readable certificate it is trust itself.
func (n *Node) policyTrust(trust *sovereignty.Trust) *sovereignty.Trust {
	cert, _ := n.Certificate()
	if cert == nil {
		return trust
	}
	c, err := sovereignty.ParseCertificate(cert)
	if err != nil {
		return trust
	}
	t, err := sovereignty.NewTrust(c.OrgKey)
	if err != nil {
		return trust
	}
	return t
}

// ImportGate is the policy decision every way in asks before it reads a
// byte (add, bundle import, mirror), recorded in the daemon's audit log.
func (d *Daemon) ImportGate(via string, force bool) *sovereignty.ImportGate {
	return &sovereignty.ImportGate{Engine: d.Engine, Self: d.self, Audit: d.Audit, Via: via, Force: force}
}

// pullGate is the gate of pulls (get, model loads, the replicator): a
// refused peer-less pull is audited once a minute per repo and reason.
func (d *Daemon) pullGate() *sovereignty.ImportGate {
	return &sovereignty.ImportGate{Engine: d.Engine, Self: d.self, Audit: d.denials, Via: "pull"}
}

// ImportGate is Daemon.ImportGate for a command run without a daemon: the
// policy saved in the home, this node's own certificate, and the audit log
// opened with the node key (close it after; Close seals it).
func (n *Node) ImportGate(via string, force bool) (*sovereignty.ImportGate, *sovereignty.Audit, error) {
	trust, err := n.Trust()
	if err != nil {
		return nil, nil, err
	}
	e := sovereignty.NewEngine(n.policyTrust(trust), nil)
	if b, err := os.ReadFile(filepath.Join(n.Home, PolicyFile)); err == nil {
		if _, err := e.Set(b); err != nil {
			return nil, nil, fmt.Errorf("%s: the policy in %s cannot be checked, so nothing comes in: %w", via, n.Home, err)
		}
	} else if !os.IsNotExist(err) {
		return nil, nil, fmt.Errorf("%s: policy: %w", via, err)
	}
	var self *sovereignty.Member
	if cert, err := n.Certificate(); err != nil {
		return nil, nil, err
	} else if cert != nil {
		// An expired or revoked certificate gives no membership: with a
		// policy in force the import is refused, and says why.
		self, _ = trust.VerifyBytes(cert, n.ID.String(), now())
	}
	a, err := n.OpenAudit()
	if err != nil {
		return nil, nil, err
	}
	return &sovereignty.ImportGate{Engine: e, Self: self, Audit: a, Via: via, Force: force}, a, nil
}
