package node

import (
	"context"

	"github.com/cairnhub/cairn/bom"
	"github.com/cairnhub/cairn/manifest"
)

// Holders are the holders of a revision with their jurisdictions: this
// node, and the members the replication status names.
func (d *Daemon) Holders(ctx context.Context, m *manifest.Manifest) []bom.Holder {
	var out []bom.Holder
	seen := map[string]bool{}
	if d.self != nil {
		out = append(out, bom.Holder{Peer: d.n.ID.String(), Jurisdiction: d.self.Jurisdiction})
		seen[d.n.ID.String()] = true
	}
	if d.Host == nil {
		return out
	}
	r, err := d.Replication()
	if err != nil {
		return out
	}
	st, err := r.Status(ctx, m.Type, m.Repo, m.Commit)
	if err != nil {
		return out
	}
	for _, h := range st.Holders {
		if !h.Gone && h.Commit == m.Commit && !seen[h.Peer] {
			seen[h.Peer] = true
			out = append(out, bom.Holder{Peer: h.Peer, Jurisdiction: h.Jurisdiction})
		}
	}
	return out
}
