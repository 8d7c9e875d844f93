package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/inference/ollama"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/internal/httpauth"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/sovereignty"
)

// newOllama builds the Ollama API of the daemon: generations go through
// the inference router as OpenAI requests, so keys, jurisdiction-bound
// keys, audit, metrics and forwarding to members are those of /v1.
func (d *Daemon) newOllama(keys httpauth.Keys) (http.Handler, error) {
	cfg := ollama.Config{
		Backend: ollama.HandlerBackend{H: d.Router},
		Models:  ollama.BoundModels{Models: d.models, Policy: d},
		Logger:  d.log,
	}
	if d.OpenAI != nil {
		cfg.Running = d.OpenAI // all loaded models: /api/ps shows only their names
	}
	if d.Host != nil {
		cfg.Puller = ollamaPuller{d: d}
	}
	srv, err := ollama.New(cfg)
	if err != nil {
		return nil, err
	}
	return ollama.RequireKey(keys, srv), nil
}

// mayReceive reports whether a key bound to juris may use repo: the
// decision the router and the HF API make for the same key.
func (d *Daemon) mayReceive(repo, juris string) (sovereignty.Decision, bool) {
	if juris == "" {
		return sovereignty.Decision{Allow: true}, true
	}
	m := &sovereignty.Member{PeerID: "http-token", Jurisdiction: juris}
	dec := d.Engine.Decide(sovereignty.Receive, repo, m)
	if !dec.Allow {
		d.audit(sovereignty.DenyEntry(sovereignty.Receive, repo, m, dec))
	}
	return dec, dec.Allow
}

// MayUseModel is mayReceive for a model id; an id that does not parse is
// no model the key may use.
func (d *Daemon) MayUseModel(id, juris string) bool {
	if juris == "" {
		return true
	}
	mid, err := models.ParseID(id)
	if err != nil {
		return false
	}
	_, ok := d.mayReceive(mid.Repo, juris)
	return ok
}

// ollamaPuller pulls a model's revision from the members, with progress.
type ollamaPuller struct{ d *Daemon }

func (p ollamaPuller) Pull(ctx context.Context, id string, progress func(done, total int64)) error {
	mid, err := models.ParseID(id)
	if err != nil {
		return err
	}
	if dec, ok := p.d.mayReceive(mid.Repo, ollama.CallerOf(ctx).Jurisdiction); !ok {
		return &openai.Error{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "jurisdiction_refused",
			Message: fmt.Sprintf("this API key's jurisdiction may not receive %s: %s", mid.Repo, dec.Reason)}
	}
	o := pull.Options{}
	if progress != nil {
		o.Progress = func(fp fetch.Progress) { progress(fp.Bytes, max(fp.Total, fp.Bytes)) }
	}
	_, err = p.d.Pull(ctx, manifest.Model, mid.Repo, mid.Rev, o)
	if errors.Is(err, pull.ErrNoSource) {
		return &openai.Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found",
			Message: fmt.Sprintf("pull %s: no connected member holds it: %v", id, err)}
	}
	return err
}
