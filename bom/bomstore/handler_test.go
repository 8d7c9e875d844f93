package bomstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cairnhub/cairn/bom"
	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/internal/httpauth"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
)

// TestHandler: the BOM route answers under the keys and the residency
// decision, names the holders, and 404s a revision the store lacks.
func TestHandler(t *testing.T) {
	st := storetest.Open(t)
	card := []byte("---\nlicense: mit\n---\n")
	r, err := chunker.ImportFile(t.Context(), st, bytes.NewReader(card), int64(len(card)), "README.md", chunker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest.Manifest{Version: manifest.Version, Type: manifest.Model, Repo: "acme/tiny", Commit: "0123456789abcdef0123456789abcdef01234567",
		Files: []manifest.File{{Path: "README.md", Size: r.Size, SHA256: hex.EncodeToString(r.SHA256[:]), CID: r.CID}}}
	mux := http.NewServeMux()
	mux.Handle("GET /api/models/{org}/{name}/bom", Handler(HandlerConfig{
		Store: oneRevision{st, m},
		Keys:  httpauth.Keys{{Token: "any"}, {Token: "fr", Jurisdiction: "FR"}},
		MayReceive: func(repo, juris string) (sovereignty.Decision, bool) {
			ok := juris != "FR"
			return sovereignty.Decision{Allow: ok, Reason: "test rule"}, ok
		},
		Holders: func(context.Context, *manifest.Manifest) []bom.Holder {
			return []bom.Holder{{Peer: "12D3KooWholder", Jurisdiction: "DE"}}
		},
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/api/models/acme/tiny/bom", ""); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", code)
	}
	if code, body := get("/api/models/acme/tiny/bom", "fr"); code != http.StatusForbidden || !strings.Contains(body, "test rule") {
		t.Errorf("refused jurisdiction: %d %s", code, body)
	}
	if code, _ := get("/api/models/acme/absent/bom", "any"); code != http.StatusNotFound {
		t.Errorf("absent revision: %d", code)
	}
	code, body := get("/api/models/acme/tiny/bom?revision="+m.Commit, "any")
	if code != http.StatusOK || !strings.Contains(body, "12D3KooWholder") || !strings.Contains(body, `"MIT"`) {
		t.Errorf("BOM: %d %s", code, body)
	}
}

// oneRevision resolves m at any revision name, and nothing else.
type oneRevision struct {
	*store.Store
	m *manifest.Manifest
}

func (o oneRevision) Resolve(_ context.Context, kind manifest.Kind, repo, _ string) (*manifest.Manifest, error) {
	if kind != o.m.Type || repo != o.m.Repo {
		return nil, store.ErrRepoNotFound
	}
	return o.m, nil
}
