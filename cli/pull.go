package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/node"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/progress"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/store"
)

// peerWait is how long a short-lived host waits for its first peer.
const peerWait = 15 * time.Second

// resolveOrPull returns the manifest of a revision, pulling it from peers
// when the store lacks it: through the running daemon when the command
// runs in one, else through a short-lived host of this process.
// The result says what was fetched; nil when the store held it.
func resolveOrPull(c *cli.Context, n nodeRef, kind manifest.Kind, ref refArg, quiet bool) (*manifest.Manifest, *pull.Result, error) {
	return resolveOrPullOpts(c, n, kind, ref, quiet, pull.Options{})
}

// resolveOrPullOpts is resolveOrPull with pull options (Out: write the
// files while they arrive).
func resolveOrPullOpts(c *cli.Context, n nodeRef, kind manifest.Kind, ref refArg, quiet bool, o pull.Options) (*manifest.Manifest, *pull.Result, error) {
	m, err := n.Store.Resolve(c.Context, kind, ref.Repo, ref.Rev)
	if err == nil {
		return m, nil, nil
	}
	if !errors.Is(err, store.ErrRepoNotFound) && !errors.Is(err, store.ErrRevisionNotFound) {
		return nil, nil, err
	}
	d := runningDaemon(c)
	if d == nil {
		cert, cerr := n.Certificate()
		if cerr != nil || cert == nil {
			return nil, nil, fmt.Errorf("%s: %w (and no certificate to ask peers: `cairn org join`)", ref, err)
		}
		d, err = n.StartDaemon(c.Context, node.DaemonOptions{
			HTTPAddr: "127.0.0.1:0",
			Listen:   []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"},
		})
		if err != nil {
			return nil, nil, fmt.Errorf("start short-lived host: %w", err)
		}
		defer d.Close()
		ctx, cancel := context.WithCancel(c.Context)
		defer cancel()
		go d.Run(ctx)
		wctx, wcancel := context.WithTimeout(c.Context, peerWait)
		err := d.WaitForPeers(wctx, 1)
		wcancel()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: not in the store, and no peer connected: %w", ref, err)
		}
	}
	bar := progress.New(c.App.ErrWriter, "fetch")
	if quiet {
		bar = progress.New(nil, "")
	}
	o.Progress = func(p fetch.Progress) {
		bar.SetExtra(fmt.Sprintf("%d peers", len(p.Peers)))
		bar.Update(p.Bytes, max(p.Total, p.Bytes))
	}
	res, err := d.Pull(c.Context, kind, ref.Repo, ref.Rev, o)
	bar.Done()
	if err != nil {
		return nil, nil, err
	}
	return res.Manifest, res, nil
}
