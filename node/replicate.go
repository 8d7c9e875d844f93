package node

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/replicate"
)

// Replication returns the daemon's replicator (Daemon.Replicator). It
// fails when peer-to-peer is off.
func (d *Daemon) Replication() (*replicate.Service, error) {
	if d.Replicator == nil {
		return nil, errors.New("replication: peer-to-peer is off (no certificate)")
	}
	return d.Replicator, nil
}

// startReplication builds the replicator from the config's replication
// section and registers its protocols on the host; Run runs it.
func (d *Daemon) startReplication() (err error) {
	dir := d.n.Dir
	d.Replicator, err = replicate.New(d.Host.Libp2p(), replicate.Deps{
		Self: d.self, Store: d.n.Store, Members: d.Host, Policy: d.Engine, Puller: replicaPuller{d}, Audit: d.Audit,
		StateFile: filepath.Join(dir, replicate.PinsFile), Gossip: replicaGossip{d},
		DiskFree: func() (int64, error) { return replicate.DiskFree(filepath.Join(dir, home.StoreDir)) },
		Logger:   d.log,
	}, d.n.Config.Replication)
	return err
}

// replicaPuller is Daemon.Pull as the replicator calls it.
type replicaPuller struct{ d *Daemon }

func (p replicaPuller) Pull(ctx context.Context, kind manifest.Kind, repo, rev string, maxSources int) (replicate.Pulled, error) {
	res, err := p.d.Pull(ctx, kind, repo, rev, pull.Options{MaxSources: maxSources})
	if err != nil {
		return replicate.Pulled{}, err
	}
	return replicate.Pulled{Manifest: res.Manifest, Local: res.Local, Bytes: res.Stats.Bytes}, nil
}
