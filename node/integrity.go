package node

import (
	"context"
	"slices"
	"time"

	"github.com/cairnhub/cairn/p2p/catalog"
	"github.com/cairnhub/cairn/repair"
	"github.com/cairnhub/cairn/store"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// startIntegrity builds the repair worker, sends it the store's corrupt
// blocks and registers its counters.
func (d *Daemon) startIntegrity() error {
	cfg := repair.Config{Store: d.n.Store, Audit: d.Audit, Logger: d.log,
		ScrubInterval: d.ScrubInterval(), ScrubRate: d.n.Config.WithDefaults().Store.ScrubRate}
	if d.Host != nil {
		cfg.Finder, cfg.Fetcher = repairFinder{d}, d.Client
	}
	w, err := repair.New(cfg)
	if err != nil {
		return err
	}
	d.repair = w
	d.metrics.Registry.MustRegister(w.Collectors()...)
	d.n.setOnCorrupt(w.Corrupt)
	return nil
}

// ScrubInterval is how often this daemon scrubs its store: store.
// scrub_interval, else by role (mirrors daily, others never). 0: never.
func (d *Daemon) ScrubInterval() time.Duration {
	if iv := d.n.Config.Store.ScrubInterval; iv != nil {
		return time.Duration(*iv)
	}
	if d.self != nil && slices.Contains(d.self.Roles, "mirror") {
		return repair.DefaultMirrorScrubInterval
	}
	return 0
}

// RepairBlocks rewrites bad blocks with verified bytes from members (see
// repair.Worker.RepairBlocks).
func (d *Daemon) RepairBlocks(ctx context.Context, bad []cid.Cid) repair.Report {
	return d.repair.RepairBlocks(ctx, bad)
}

// repairFinder finds a revision's holders with the daemon's catalog
// queries, whose answers the residency policy decides.
type repairFinder struct{ d *Daemon }

func (f repairFinder) Connected() bool { return len(f.d.Host.Peers()) > 0 }

func (f repairFinder) Holders(ctx context.Context, r store.Ref) ([]peer.ID, error) {
	_, sources, err := f.d.Puller.FindManifest(ctx, catalog.Query{Kind: r.Kind, Repo: r.Repo, Revision: r.Commit}, 0)
	return sources, err
}
