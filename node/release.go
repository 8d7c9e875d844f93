package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/rpc"
	"github.com/cairnhub/cairn/sovereignty"
)

// ReleaseProtocol is how a signed release travels with a revision between
// members: a node whose gate quarantines a revision it pulled asks the
// sources for the release that lifted the quarantine there, and applies
// it when it verifies under its own trust. Request: "KIND REPO COMMIT";
// answer: the signed release, or nothing.
const ReleaseProtocol = protocol.ID("/cairn/release/1.0.0")

// maxReleaseQuery bounds a release request: kind, repo and commit.
const maxReleaseQuery = 512

// registerReleases answers members' release requests for revisions this
// node holds released, to members the policy lets receive the repo.
func (d *Daemon) registerReleases() {
	d.Host.Libp2p().SetStreamHandler(ReleaseProtocol, func(s network.Stream) {
		defer s.Close()
		m, ok := d.Host.Member(s.Conn().RemotePeer())
		if !ok {
			s.Reset()
			return
		}
		req, err := rpc.Read(s, maxReleaseQuery)
		if err != nil {
			s.Reset()
			return
		}
		f := strings.Fields(string(req))
		if len(f) != 3 {
			s.Reset()
			return
		}
		kind, repo, commit := manifest.Kind(f[0]), f[1], f[2]
		var answer []byte
		if d.Engine.Decide(sovereignty.Receive, repo, m).Allow {
			if q, ok, err := d.n.Store.QuarantineOf(context.Background(), kind, repo, commit); err == nil && ok && !q.InForce() {
				answer = q.Release
			}
		}
		rpc.Reply(s, answer)
	})
}

// releaseFrom asks sources, in turn, for the release of m's revision; nil
// when none has one.
func (d *Daemon) releaseFrom(ctx context.Context, m *manifest.Manifest, sources []peer.ID) []byte {
	req := []byte(fmt.Sprintf("%s %s %s", m.Type, m.Repo, m.Commit))
	for _, p := range sources {
		b, err := rpc.Request(ctx, d.Host.Libp2p(), p, ReleaseProtocol, req, sovereignty.MaxReleaseSize)
		if err != nil {
			d.log.Debug("release request", "peer", p, "repo", m.Repo, "err", err)
			continue
		}
		if len(b) > 0 {
			return b
		}
	}
	return nil
}
