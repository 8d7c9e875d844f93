package cli

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/node"
)

// inferenceServers are the OpenAI servers of the daemons of this process,
// so that `cairn run` forwarded to a daemon shares its loaded models.
var inferenceServers sync.Map // *node.Daemon → *openai.Server

func init() {
	daemonHooks = append(daemonHooks, mountOpenAI)
}

// mountOpenAI serves the OpenAI-compatible API at /v1/ on the daemon's
// HTTP API, for every GGUF file of the store (pulled from peers on demand).
func mountOpenAI(c *cli.Context, d *node.Daemon) error {
	cfg := d.Node().Config.Inference
	if cfg.Disabled {
		slog.Info("local inference disabled (inference.disabled)")
		d.Mux().Handle("/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"message":"local inference is disabled on this node (inference.disabled)","type":"server_error","param":null,"code":"inference_disabled"}}` + "\n"))
		}))
		return nil
	}
	srv, err := newInferenceServer(d.Node(), d, cfg, slog.Default())
	if err != nil {
		return err
	}
	// Files of models removed since the last start go now; `cairn gc` is
	// the other place that should call Prune.
	if _, err := node.NewModels(d.Node(), nil, slog.Default()).Prune(c.Context); err != nil {
		slog.Warn("prune models folder", "err", err)
	}
	d.Mux().Handle("/v1/", srv)
	inferenceServers.Store(d, srv)
	go func() {
		srv.Run(c.Context)
		inferenceServers.Delete(d)
	}()
	return nil
}

// newInferenceServer builds the OpenAI server of a node; d may be nil (no
// pulls from peers).
func newInferenceServer(n *node.Node, d *node.Daemon, cfg node.InferenceConfig, log *slog.Logger) (*openai.Server, error) {
	// The HTTP API's bearer tokens are the OpenAI API keys too. A token's
	// jurisdiction binding is enforced by the node's Forwarder in front of
	// this server (node/forward.go), which every /v1 request passes.
	var keys []string
	for _, t := range n.Config.HTTP.Tokens {
		keys = append(keys, t.Token)
	}
	return openai.NewServer(node.NewModels(n, d, log), openai.Config{
		KeepAlive: time.Duration(cfg.KeepAlive),
		Queue:     cfg.Queue,
		MaxLoaded: cfg.MaxLoadedModels,
		APIKeys:   keys,
		Logger:    log,
	})
}

// daemonInference is the OpenAI server of the daemon a command runs in.
func daemonInference(d *node.Daemon) *openai.Server {
	if d == nil {
		return nil
	}
	if s, ok := inferenceServers.Load(d); ok {
		return s.(*openai.Server)
	}
	return nil
}
