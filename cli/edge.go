package cli

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/hfapi"
	"github.com/cairnhub/cairn/node"
)

// Edge serving: forwarding of OpenAI requests the node cannot serve to
// the nearest allowed member (/cairn/infer/1.0.0), and the daemon's
// Prometheus metrics at /metrics.

// forwarders are the forwarders of the daemons of this process, for
// `cairn peers --models`.
var forwarders sync.Map // *node.Daemon → *node.Forwarder

func init() {
	daemonHooks = append(daemonHooks, mountEdge)
}

// EnvInferenceMemory overrides the memory a model may take on this node
// (bytes, file plus KV cache); larger ones are forwarded.
const EnvInferenceMemory = "CAIRN_INFERENCE_MEMORY"

func mountEdge(c *cli.Context, d *node.Daemon) error {
	// The OpenAI server is mounted by another hook (possibly after this
	// one), and absent when local inference is off: look it up each time.
	local := func() node.LocalInference {
		if s := daemonInference(d); s != nil {
			return s
		}
		return nil
	}
	met := node.NewMetrics(node.MetricsSources{
		Loaded: func() []node.LoadedQueue {
			s := daemonInference(d)
			if s == nil {
				return nil
			}
			var out []node.LoadedQueue
			for _, l := range s.Loaded() {
				q := node.LoadedQueue{Model: l.ID, Waiting: l.Waiting}
				if l.Busy {
					q.Running = 1
				}
				out = append(out, q)
			}
			return out
		},
		HFBytesServed: func() (int64, bool) {
			h, _ := d.Mux().Handler(&http.Request{Method: http.MethodGet, URL: mustURL("/")})
			if s, ok := h.(interface{ Stats() hfapi.Stats }); ok {
				return s.Stats().BytesServed, true
			}
			return 0, false
		},
	})
	cfg := node.ForwardConfig{Logger: slog.Default()}
	for _, t := range d.Node().Config.HTTP.Tokens {
		cfg.APIKeys = append(cfg.APIKeys, t.Token)
	}
	if v := os.Getenv(EnvInferenceMemory); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%s=%q: want a number of bytes", EnvInferenceMemory, v)
		}
		cfg.MemoryLimit = n
	}
	d.SetMetrics(met)
	fw, err := node.NewForwarder(d, local, cfg, met)
	if err != nil {
		return err
	}
	fw.Register()
	fw.Mount(d.Mux())
	d.Mux().Handle("GET /metrics", met.Handler())
	forwarders.Store(d, fw)
	go func() {
		<-c.Context.Done()
		forwarders.Delete(d)
		d.SetMetrics(nil)
	}()
	return nil
}

// peersModels prints the routing view: which member serves which model,
// its round-trip time and load, and whether the policy lets this node
// send it prompts of that model.
func peersModels(c *cli.Context, d *node.Daemon) error {
	v, ok := forwarders.Load(d)
	if !ok {
		return fmt.Errorf("peers --models: the daemon has no forwarder")
	}
	routes := v.(*node.Forwarder).Routes(c.Context)
	type model struct {
		ID      string `json:"id"`
		Loaded  bool   `json:"loaded"`
		Allowed bool   `json:"prompts_allowed"`
		Reason  string `json:"reason"`
	}
	type row struct {
		Peer         string  `json:"peer"`
		Jurisdiction string  `json:"jurisdiction"`
		RTTms        float64 `json:"rtt_ms"`
		Serving      bool    `json:"serving"`
		Load         int     `json:"load"`
		Models       []model `json:"models"`
		Err          string  `json:"error,omitempty"`
	}
	rows := []row{}
	for _, r := range routes {
		x := row{Peer: r.Peer.String(), Jurisdiction: r.Jurisdiction, RTTms: float64(r.RTT) / float64(time.Millisecond),
			Serving: r.Serving, Load: r.Load, Models: []model{}, Err: r.Err}
		for _, m := range r.Models {
			x.Models = append(x.Models, model{m.ID, m.Loaded, m.Allowed, m.Reason})
		}
		rows = append(rows, x)
	}
	if c.Bool("json") {
		return printJSON(c, rows)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tJURISDICTION\tRTT\tLOAD\tMODEL\tSTATE\tPROMPTS")
	for _, r := range rows {
		if r.Err != "" {
			fmt.Fprintf(tw, "%s\t%s\t%.1fms\t-\t-\t-\t(no answer: %s)\n", r.Peer, r.Jurisdiction, r.RTTms, r.Err)
			continue
		}
		if len(r.Models) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%.1fms\t%d\t-\t-\t-\n", r.Peer, r.Jurisdiction, r.RTTms, r.Load)
		}
		for _, m := range r.Models {
			state := "held"
			if m.Loaded {
				state = "loaded"
			}
			if !r.Serving {
				state += " (not serving)"
			}
			prompts := "allowed"
			if !m.Allowed {
				prompts = "refused: " + m.Reason
			}
			fmt.Fprintf(tw, "%s\t%s\t%.1fms\t%d\t%s\t%s\t%s\n", r.Peer, r.Jurisdiction, r.RTTms, r.Load, m.ID, state, prompts)
		}
	}
	return tw.Flush()
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
