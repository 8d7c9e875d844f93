package node

import (
	"github.com/cairnhub/cairn/sovereignty"
)

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
