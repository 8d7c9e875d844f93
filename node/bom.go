package node

import (
	"context"
	"fmt"
	"net/http"
	"path"

	"github.com/cairnhub/cairn/bom"
	"github.com/cairnhub/cairn/bom/bomstore"
	"github.com/cairnhub/cairn/internal/httpauth"
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

// serveBOM answers GET /api/models/{org}/{name}/bom[?revision=REV] with
// the revision's ML-BOM, under the HF API's keys and residency policy.
func (d *Daemon) serveBOM(keys httpauth.Keys) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := keys.Check(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", httpauth.Challenge)
			http.Error(w, `{"error":"missing or incorrect token"}`, http.StatusUnauthorized)
			return
		}
		juris := key.Jurisdiction
		repo := path.Join(r.PathValue("org"), r.PathValue("name"))
		if dec, ok := d.mayReceive(repo, juris); !ok {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, "the residency policy does not let this token's jurisdiction receive "+repo+": "+dec.Reason), http.StatusForbidden)
			return
		}
		rev := r.URL.Query().Get("revision")
		if rev == "" {
			rev = "main"
		}
		m, err := d.n.Store.Resolve(r.Context(), manifest.Model, repo, rev)
		if err != nil {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusNotFound)
			return
		}
		b, err := bomstore.Build(r.Context(), d.n.Store, m, bomstore.Sources{Holders: d.Holders(r.Context(), m), Upstream: d.n.Config.Upstream.Endpoint})
		if err != nil {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.cyclonedx+json; version=1.6")
		w.Write(b)
	}
}
