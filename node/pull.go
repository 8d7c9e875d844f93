package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/sovereignty"
)

// registerCatalog answers members' manifest queries (pull.ServeCatalog)
// with manifests that pass checkServed.
func (d *Daemon) registerCatalog() error {
	return pull.ServeCatalog(d.Host.Libp2p(), pull.Catalog{Store: d.n.Store, Members: d.Host, Policy: d.Engine, Swarm: d.swarm,
		Check: d.checkServed, Audit: d.audit})
}

// checkServed refuses to answer with a manifest whose provenance does not
// check, a quarantined revision (never replicated), or one whose model.sig
// does not verify.
func (d *Daemon) checkServed(ctx context.Context, m *manifest.Manifest) error {
	if err := d.checkProvenance(m, "", "serve manifest"); err != nil {
		return err
	}
	if err := gate.CheckQuarantine(ctx, d.n.Store, m); err != nil {
		return err
	}
	return d.checkModelSig(ctx, m, "serve manifest")
}

func (d *Daemon) audit(e sovereignty.Entry) {
	if err := d.denials.Append(e); err != nil {
		d.log.Error("audit", "err", err)
	}
}

// Self is this node's membership, from its own certificate; nil when it
// has none.
func (d *Daemon) Self() *sovereignty.Member {
	return d.self
}

// startPull builds the pull service over the store, and over the host,
// control plane and fetch client when peer-to-peer is on.
func (d *Daemon) startPull() {
	deps := pull.Deps{Self: d.n.ID, Store: d.n.Store, Policy: d.Engine, Checks: pullChecks{d}, Swarm: d.swarm, Logger: d.log,
		ObserveFetch: func(s fetch.Stats) { d.Metrics().ObserveFetch(s) }}
	if d.Host != nil {
		deps.Host, deps.Holdings, deps.Fetcher = d.Host, d.Gossip, d.Client
	}
	d.Puller = pull.New(deps)
}

// Pull makes a revision present in the local store (pull.Service.Pull).
func (d *Daemon) Pull(ctx context.Context, kind manifest.Kind, repo, rev string, o pull.Options) (*pull.Result, error) {
	return d.Puller.Pull(ctx, kind, repo, rev, o)
}

// pullChecks are the daemon's checks of what a pull brings in: the pull
// gate, manifest provenance, the model signature and the import gate.
type pullChecks struct{ d *Daemon }

func (c pullChecks) MayImport(repo string) error { return c.d.pullGate().MayImport(repo) }

func (c pullChecks) Manifest(m *manifest.Manifest, from peer.ID) error {
	return c.d.checkProvenance(m, from.String(), "pull manifest")
}

func (c pullChecks) Fetched(ctx context.Context, m *manifest.Manifest, sources []peer.ID) error {
	if err := c.d.checkModelSig(ctx, m, "pull"); err != nil {
		return err
	}
	return c.d.gatePulled(ctx, m, sources)
}

// WaitForPeers waits until at least n members are connected or ctx ends.
func (d *Daemon) WaitForPeers(ctx context.Context, n int) error {
	if d.Host == nil {
		return errors.New("peer-to-peer is off")
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for len(d.Host.Peers()) < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d peers: %w", n, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// rates are the upload and download limits, the options' over the
// config's.
func (d *Daemon) rates(o DaemonOptions) (up, down int64, err error) {
	cfg := d.n.Config.P2P
	if o.MaxUploadRate != "" {
		cfg.MaxUploadRate = o.MaxUploadRate
	}
	if o.MaxDownloadRate != "" {
		cfg.MaxDownloadRate = o.MaxDownloadRate
	}
	return cfg.Rates()
}

// startFetch builds the fetch server and client around the swarm's
// Haves, with the node's rate limits.
func (d *Daemon) startFetch(h *p2p.Host, o DaemonOptions) error {
	up, down, err := d.rates(o)
	if err != nil {
		return err
	}
	d.swarm = pull.NewSwarm()
	d.Fetch, err = fetch.NewServer(h.Libp2p(), d.n.Store, func(p peer.ID, root cid.Cid) error {
		m, ok := h.Member(p)
		if !ok {
			return errors.New("not a verified member")
		}
		return d.gateFetch(m, root)
	}, fetch.ServerConfig{Logger: d.log, Haves: d.swarm.Haves(), UploadRate: up})
	if err != nil {
		return err
	}
	d.Fetch.Register()
	d.Client, err = fetch.NewClientConfig(h.Libp2p(), d.n.Store, fetch.ClientConfig{Haves: d.swarm.Haves(), DownloadRate: down, Logger: d.log})
	return err
}

// gateFetch decides a fetch request for root from m: by the repo being
// fetched when the node is fetching root itself, else by the repos the
// store holds it in. A root in neither is answered as not found (no
// audit entry: there is nothing to refuse), so a peer probes again and
// finds the node once it starts fetching the root too.
func (d *Daemon) gateFetch(m *sovereignty.Member, root cid.Cid) error {
	if repo, ok := d.swarm.RepoOf(root); ok {
		dec := d.Engine.Decide(sovereignty.Receive, repo, m)
		if dec.Allow {
			return nil
		}
		d.audit(sovereignty.DenyEntry(sovereignty.Receive, repo, m, dec))
		d.Metrics().RefusedBlock("fetch")
		return fmt.Errorf("policy refuses %s for jurisdiction %s", root, m.Jurisdiction)
	}
	if repos, err := d.n.Store.ReposOf(context.Background(), root); err == nil && len(repos) == 0 {
		return fmt.Errorf("not found: root %s", root)
	}
	if !d.allowBlocks(context.Background(), m, root, "fetch") {
		return fmt.Errorf("policy refuses %s for jurisdiction %s", root, m.Jurisdiction)
	}
	return nil
}

// Rates are the node's upload and download limits in bytes per second
// (0: unlimited); zeros when peer-to-peer is off.
func (d *Daemon) Rates() (up, down int64) {
	if d.Fetch == nil || d.Client == nil {
		return 0, 0
	}
	return d.Fetch.UploadRate(), d.Client.DownloadRate()
}

// registerSwarmMetrics adds the swarm's figures to /metrics.
func (d *Daemon) registerSwarmMetrics() error {
	if d.metrics == nil {
		return nil
	}
	return d.metrics.RegisterSwarm(d.Fetch, d.Client)
}
