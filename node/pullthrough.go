package node

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/mirror"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/sovereignty"
)

// RoleMirror is the certificate role of nodes that mirror from the
// upstream Hub, also on a miss of the Hugging Face API.
const RoleMirror = "mirror"

// hfPuller is the Hugging Face API's puller (hfapi.PullThrough): a pull
// of the revision from the members or, on a mirror, from the upstream Hub.
type hfPuller struct{ d *Daemon }

func (p hfPuller) Pull(ctx context.Context, kind manifest.Kind, repo, rev string, onManifest func(*manifest.Manifest), onBlock func(cid.Cid, []byte)) error {
	if p.d.Host == nil {
		return pull.ErrNoSource
	}
	got := false
	_, err := p.d.Pull(ctx, kind, repo, rev, pull.Options{
		OnManifest: func(m *manifest.Manifest) {
			got = true
			onManifest(m)
		},
		OnBlock: onBlock,
	})
	if err != nil && !got && errors.Is(err, pull.ErrNoSource) && p.mayMirror(repo) {
		if err = p.mirror(ctx, kind, repo, rev); err == nil {
			var m *manifest.Manifest
			if m, err = p.d.n.Store.Resolve(ctx, kind, repo, rev); err == nil {
				onManifest(m)
			}
		}
	}
	return err
}

// mayMirror says the node mirrors from the upstream Hub on a miss: it has
// the mirror role, the upstream is not offline, and the policy lets it
// hold repo.
func (p hfPuller) mayMirror(repo string) bool {
	self := p.d.Self()
	if p.d.n.Config.Upstream.Offline || !self.HasRole(RoleMirror) {
		return false
	}
	dec := p.d.Engine.Decide(sovereignty.Hold, repo, self)
	if !dec.Allow {
		p.d.audit(sovereignty.DenyEntry(sovereignty.Hold, repo, self, dec))
	}
	return dec.Allow
}

// mirror fetches repo@rev from the upstream Hub into the store.
func (p hfPuller) mirror(ctx context.Context, kind manifest.Kind, repo, rev string) error {
	up := p.d.n.Config.WithDefaults().Upstream
	_, err := mirror.Mirror(ctx, p.d.n.Store, repo, mirror.Options{
		Endpoint: up.Endpoint, Token: up.Token, RedirectHosts: up.RedirectHosts,
		Kind: kind, Revision: rev, SpoolDir: filepath.Join(p.d.n.Dir, "tmp", "mirror"),
	})
	return err
}
