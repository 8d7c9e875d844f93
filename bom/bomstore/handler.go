package bomstore

import (
	"context"
	"fmt"
	"net/http"
	"path"

	"github.com/cairnhub/cairn/bom"
	"github.com/cairnhub/cairn/internal/httpauth"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
)

// HandlerConfig is what Handler serves BOMs from.
type HandlerConfig struct {
	// Store holds the revisions; it resolves the requested one.
	Store interface {
		Store
		Resolve(ctx context.Context, kind manifest.Kind, repo, rev string) (*manifest.Manifest, error)
	}
	// Keys are the API's bearer tokens.
	Keys httpauth.Keys
	// MayReceive is the residency decision for a key bound to a
	// jurisdiction ("" for an unbound key): the one the HF API makes.
	MayReceive func(repo, juris string) (sovereignty.Decision, bool)
	// Holders are the revision's holders for Sources.
	Holders func(ctx context.Context, m *manifest.Manifest) []bom.Holder
	// Upstream is Sources.Upstream.
	Upstream string
}

// Handler answers GET /api/models/{org}/{name}/bom[?revision=REV] with
// the revision's ML-BOM, under the API's keys and residency policy.
func Handler(c HandlerConfig) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := c.Keys.Check(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", httpauth.Challenge)
			http.Error(w, `{"error":"missing or incorrect token"}`, http.StatusUnauthorized)
			return
		}
		repo := path.Join(r.PathValue("org"), r.PathValue("name"))
		if dec, ok := c.MayReceive(repo, key.Jurisdiction); !ok {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, "the residency policy does not let this token's jurisdiction receive "+repo+": "+dec.Reason), http.StatusForbidden)
			return
		}
		rev := r.URL.Query().Get("revision")
		if rev == "" {
			rev = "main"
		}
		m, err := c.Store.Resolve(r.Context(), manifest.Model, repo, rev)
		if err != nil {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusNotFound)
			return
		}
		b, err := Build(r.Context(), c.Store, m, Sources{Holders: c.Holders(r.Context(), m), Upstream: c.Upstream})
		if err != nil {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.cyclonedx+json; version=1.6")
		w.Write(b)
	}
}
