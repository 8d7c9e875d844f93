package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/node"
)

// peersModels prints the routing view: which member serves which model,
// its round-trip time and load, and whether the policy lets this node
// send it prompts of that model.
func peersModels(c *cli.Context, d *node.Daemon) error {
	routes := d.Router.Routes(c.Context)
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
