package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/cairnhub/cairn/bom/bomstore"
	"github.com/cairnhub/cairn/config"
	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/hfapi"
	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/inference"
	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/inference/ollama"
	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/inference/router"
	"github.com/cairnhub/cairn/internal/httpauth"
	"github.com/cairnhub/cairn/internal/httpguard"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/metrics"
	"github.com/cairnhub/cairn/p2p/fetch"
	"github.com/cairnhub/cairn/p2p/infer"
	"github.com/cairnhub/cairn/pull"
)

// routes lays out the daemon's HTTP API. More precise patterns win, so
// the router takes generation and model requests ahead of the OpenAI
// server's "/v1/", and the Hugging Face API takes what nothing else does.
func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	// JSON bodies only: a browser sends text/plain and form bodies across
	// origins without a preflight.
	mux.Handle("POST "+infer.PathCompletions, httpguard.JSONOnly(d.Router))
	mux.Handle("POST "+infer.PathChat, httpguard.JSONOnly(d.Router))
	mux.Handle("POST "+infer.PathEmbeddings, httpguard.JSONOnly(d.Router))
	mux.HandleFunc("GET /v1/models", d.Router.ServeModels)
	mux.HandleFunc("GET /v1/models/{id...}", d.Router.ServeModel)
	if d.OpenAI != nil {
		mux.Handle("/v1/", httpguard.JSONOnly(d.OpenAI))
	} else {
		mux.HandleFunc("/v1/", inferenceDisabled)
	}
	if d.n.Config.HTTP.MetricsAddr == "" {
		mux.Handle("GET /metrics", d.metricsHandler())
	}
	// Ollama's API; its patterns are named one by one, as the Hugging
	// Face API serves /api/models/… and /api/datasets/… under "/".
	for _, p := range ollama.Patterns {
		mux.Handle(p, d.ollama)
	}
	mux.Handle("GET /api/models/{org}/{name}/bom", d.bomHandler)
	mux.Handle("/", d.HF)
	cfg := d.n.Config.HTTP
	return httpguard.Guard(httpguard.Config{AllowedHosts: cfg.AllowedHosts, CORSOrigins: cfg.CORSOrigins}, mux)
}

// metricsHandler is /metrics behind the API's tokens when http.tokens are
// set: the metrics name peers, models and repos.
func (d *Daemon) metricsHandler() http.Handler {
	h := d.metrics.Handler()
	keys := d.keys()
	if keys.Open() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := keys.Check(r); err != nil {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "metrics: "+err.Error(), http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// keys are the API's bearer tokens (http.tokens).
func (d *Daemon) keys() httpauth.Keys {
	var keys httpauth.Keys
	for _, t := range d.n.Config.HTTP.Tokens {
		keys = append(keys, httpauth.Key{Token: t.Token, Jurisdiction: t.Jurisdiction})
	}
	return keys
}

// warnOpenHTTP warns when the API listens beyond loopback without tokens:
// whoever reaches the address reads every repo the node holds.
func (d *Daemon) warnOpenHTTP(addr string) {
	if !httpguard.Loopback(addr) && d.keys().Open() {
		d.log.Warn("the HTTP API listens on a non-loopback address without tokens: anyone who reaches it reads every repo (set http.tokens)", "addr", addr)
	}
}

func inferenceDisabled(w http.ResponseWriter, _ *http.Request) {
	openai.WriteError(w, &openai.Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "inference_disabled",
		Message: "local inference is disabled on this node (inference.disabled)"})
}

// startHTTP builds the services of the HTTP API: the Hugging Face API,
// the OpenAI server (unless inference.disabled), the inference router in
// front of it, and the metrics.
func (d *Daemon) startHTTP(ctx context.Context, o DaemonOptions) error {
	n := d.n
	keys := d.keys()
	hfo := hfapi.Options{Decider: d.Engine, Auditor: d.Audit, Logger: d.log, Quarantine: gate.QuarantineReason(n.Store), FileScans: hfapi.StoredFileScans(n.Store)}
	for _, t := range n.Config.HTTP.Tokens {
		hfo.Tokens = append(hfo.Tokens, hfapi.Token{Token: t.Token, Jurisdiction: t.Jurisdiction})
	}
	var err error
	// Files the node lacks are pulled through from members on request.
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	d.stopPulls = stop
	if d.HF, err = hfapi.New(hfapi.NewPullThrough(pctx, n.Store, hfPuller{d}, d.log), hfo); err != nil {
		return fmt.Errorf("http api: %w", err)
	}
	var puller models.Puller
	if d.Host != nil {
		puller = d
	}
	d.models = models.New(n.Store, filepath.Join(n.Dir, home.ModelsDir), puller, d.log)
	deps := router.Deps{ID: n.ID, Self: d.self, Policy: d.Engine, Audit: d.audit, Store: n.Store, Pull: puller, Keys: keys}
	if d.Host != nil {
		deps.Members = d.Host
	}
	if d.Gossip != nil {
		deps.Gossip = d.Gossip // publishes this node's model advert, finds servers beyond the neighbours
	}
	if n.Config.Inference.Disabled {
		d.log.Info("local inference disabled (inference.disabled)")
	} else {
		if d.OpenAI, err = newOpenAI(n.Config, d.models, d.log); err != nil {
			return err
		}
		deps.Local = d.OpenAI
		// Files of models removed since the last start go now; `cairn gc`
		// is the other place that prunes.
		if _, err := d.models.Prune(ctx); err != nil {
			d.log.Warn("prune models folder", "err", err)
		}
	}
	if o.wrapLocal != nil {
		deps.Local = o.wrapLocal(deps.Local)
	}
	d.metrics = metrics.New(metrics.Sources{Loaded: d.loadedQueues,
		HFBytesServed: func() (int64, bool) { return d.HF.Stats().BytesServed, true }})
	deps.Metrics = d.metrics
	cfg := o.Router
	if cfg.Logger == nil {
		cfg.Logger = d.log
	}
	if d.Router, err = router.New(cfg, deps); err != nil {
		return err
	}
	if d.ollama, err = d.newOllama(keys); err != nil {
		return err
	}
	d.bomHandler = bomstore.Handler(bomstore.HandlerConfig{Store: n.Store, Keys: keys, MayReceive: d.mayReceive, Holders: d.Holders, Upstream: n.Config.Upstream.Endpoint})
	d.http = d.routes()
	return nil
}

// loadedQueues are the loaded models' turns, for the metrics.
func (d *Daemon) loadedQueues() []metrics.LoadedQueue {
	if d.OpenAI == nil {
		return nil
	}
	var out []metrics.LoadedQueue
	for _, l := range d.OpenAI.Loaded() {
		out = append(out, metrics.LoadedQueue{Model: l.ID, Running: l.Running, Waiting: l.Waiting})
	}
	return out
}

// NewOpenAI builds an OpenAI server over the node's own store, without
// pulls from peers: `cairn run` without a daemon.
func (n *Node) NewOpenAI(log *slog.Logger) (*openai.Server, error) {
	return newOpenAI(n.Config, models.New(n.Store, filepath.Join(n.Dir, home.ModelsDir), nil, log), log)
}

// Models finds the store's GGUF models, pulling missing ones from peers.
func (d *Daemon) Models() *models.Finder { return d.models }

func newOpenAI(cfg config.Config, ms openai.Models, log *slog.Logger) (*openai.Server, error) {
	// The HTTP API's bearer tokens are the OpenAI API keys too. A token's
	// jurisdiction binding is enforced by the router in front of this
	// server, which every generation and model request passes.
	var keys []string
	for _, t := range cfg.HTTP.Tokens {
		keys = append(keys, t.Token)
	}
	return openai.NewServer(ms, openai.Config{
		KeepAlive: time.Duration(cfg.Inference.KeepAlive),
		Queue:     cfg.Inference.Queue,
		MaxLoaded: cfg.Inference.MaxLoadedModels,
		Engine:    inference.Config{Weights: cfg.Inference.Weights},
		APIKeys:   keys,
		Logger:    log,
	})
}

// PullModel pulls a model revision from peers (models.Puller). A revision
// no connected member holds is openai.ErrModelNotFound.
func (d *Daemon) PullModel(ctx context.Context, repo, rev string, progress func(fetch.Progress)) (models.Pulled, error) {
	res, err := d.Pull(ctx, manifest.Model, repo, rev, pull.Options{Progress: progress})
	if errors.Is(err, pull.ErrNoSource) {
		return models.Pulled{}, fmt.Errorf("%w: %s@%s is neither in the store nor on a connected peer: %v", openai.ErrModelNotFound, repo, rev, err)
	}
	if err != nil {
		return models.Pulled{}, err
	}
	return models.Pulled{Commit: res.Manifest.Commit, Local: res.Local, Bytes: res.Stats.Bytes, Duration: res.Stats.Duration}, nil
}
