package node

import "github.com/cairnhub/cairn/p2p/release"

// registerReleases answers members' release requests and lets the gate
// ask the sources of a pulled revision (p2p/release).
func (d *Daemon) registerReleases() {
	d.releases = release.New(d.Host.Libp2p(), release.Deps{Members: d.Host, Policy: d.Engine, Store: d.n.Store, Logger: d.log})
}
