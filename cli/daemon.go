package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/node"
	"github.com/cairnhub/cairn/progress"
)

func daemonCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:  "daemon",
			Usage: "run the node: peer-to-peer exchange, Hugging Face and OpenAI-compatible HTTP API",
			Flags: []cli.Flag{
				&cli.StringSliceFlag{Name: "listen", Usage: "libp2p listen `MULTIADDR` (repeatable; replaces p2p.listen)"},
				&cli.StringSliceFlag{Name: "bootstrap", Usage: "peer `MULTIADDR` to dial at start (repeatable; adds to p2p.bootstrap)"},
				&cli.StringFlag{Name: "http", Usage: "HTTP API listen `ADDR` (replaces http.addr)"},
				&cli.StringFlag{Name: "max-upload-rate", Usage: "block bytes per second served to peers, all streams together: `RATE` such as 16MiB, 100MB; 0 unlimited (replaces p2p.max_upload_rate)"},
				&cli.StringFlag{Name: "max-download-rate", Usage: "block bytes per second fetched from peers, all streams together: `RATE`; 0 unlimited (replaces p2p.max_download_rate)"},
				&cli.IntFlag{Name: "max-peers", Usage: "keep at most `N` connections, relays and transfers aside (replaces p2p.max_peers)"},
				&cli.BoolFlag{Name: "init", Usage: "create the home first if it does not exist"},
			},
			Action: cmdDaemon,
		},
		{
			Name:   "id",
			Usage:  "print the node's peer ID and listen addresses",
			Flags:  []cli.Flag{jsonFlag},
			Action: cmdID,
		},
		{
			Name:   "peers",
			Usage:  "list connected members with certificate attributes and round-trip time (--models: which serves which model, and its load)",
			Flags:  []cli.Flag{jsonFlag, &cli.BoolFlag{Name: "models", Usage: "ask each member what it serves: models held and loaded, load, whether the policy allows it prompts"}},
			Action: cmdPeers,
		},
	}
}

// EnvInferenceMemory overrides the memory a model may take on this node
// (bytes, file plus KV cache); larger ones are forwarded.
const EnvInferenceMemory = "CAIRN_INFERENCE_MEMORY"

func cmdDaemon(c *cli.Context) error {
	dir, err := homeDir(c)
	if err != nil {
		return err
	}
	if c.Bool("init") {
		if _, err := os.Stat(dir + "/" + home.ConfigFile); errors.Is(err, os.ErrNotExist) {
			id, err := home.Init(dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "initialised %s (peer id %s)\n", dir, id)
		}
	}
	o := node.DaemonOptions{Listen: c.StringSlice("listen"), Bootstrap: c.StringSlice("bootstrap"), HTTPAddr: c.String("http"),
		MaxUploadRate: c.String("max-upload-rate"), MaxDownloadRate: c.String("max-download-rate"), MaxPeers: c.Int("max-peers")}
	if v := os.Getenv(EnvInferenceMemory); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%s=%q: want a number of bytes", EnvInferenceMemory, v)
		}
		o.Router.MemoryLimit = n
	}
	n, err := node.Open(c.Context, dir)
	if err != nil {
		return err
	}
	defer n.Close()
	var d *node.Daemon
	o.CLI = lazyHandler(func() *node.Daemon { return d })
	if d, err = n.StartDaemon(c.Context, o); err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(c.App.ErrWriter, "cairn daemon: peer %s, http://%s\n", n.ID, d.HTTPAddr())
	if d.Host != nil {
		for _, a := range d.Host.Addrs() {
			fmt.Fprintf(c.App.ErrWriter, "  listening %s\n", a)
		}
	}
	return d.Run(c.Context)
}

func cmdID(c *cli.Context) error {
	n, err := loadHome(c)
	if err != nil {
		return err
	}
	addrs := []string{}
	if d := runningDaemon(c); d != nil && d.Host != nil {
		for _, a := range d.Host.Addrs() {
			addrs = append(addrs, a.String())
		}
	}
	cert, _ := n.Certificate()
	if c.Bool("json") {
		return printJSON(c, map[string]any{"peer_id": n.ID.String(), "addrs": addrs, "member": cert != nil, "daemon": runningDaemon(c) != nil})
	}
	fmt.Fprintln(c.App.Writer, n.ID)
	for _, a := range addrs {
		fmt.Fprintln(c.App.Writer, a)
	}
	return nil
}

func cmdPeers(c *cli.Context) error {
	d := runningDaemon(c)
	if d == nil {
		return errors.New("peers: no daemon is running for this home (start `cairn daemon`)")
	}
	if d.Host == nil {
		return errors.New("peers: peer-to-peer is off: the node has no certificate (`cairn org join`)")
	}
	if c.Bool("models") {
		return peersModels(c, d)
	}
	type row struct {
		Peer         string   `json:"peer"`
		Org          string   `json:"org"`
		Region       string   `json:"region"`
		Jurisdiction string   `json:"jurisdiction"`
		Roles        []string `json:"roles"`
		RTTms        float64  `json:"rtt_ms"`
		Addrs        []string `json:"addrs"`
		Served       int64    `json:"served_bytes"` // block bytes this node sent it
		// Protected: never trimmed by the connection manager (relay,
		// transfer, gossip mesh).
		Protected bool `json:"protected"`
	}
	rows := []row{}
	served := d.Fetch.Served()
	for _, p := range d.Host.Peers() {
		r := row{Peer: p.ID.String(), RTTms: float64(p.RTT) / float64(time.Millisecond), Served: served[p.ID],
			Protected: d.Host.Libp2p().ConnManager().IsProtected(p.ID, "")}
		if p.Member != nil {
			r.Org, r.Region, r.Jurisdiction, r.Roles = p.Member.Org, p.Member.Region, p.Member.Jurisdiction, p.Member.Roles
		}
		for _, a := range p.Addrs {
			r.Addrs = append(r.Addrs, a.String())
		}
		rows = append(rows, r)
	}
	up, down := d.Rates()
	if c.Bool("json") {
		return printJSON(c, map[string]any{"max_upload_rate": up, "max_download_rate": down, "peers": rows})
	}
	fmt.Fprintf(c.App.Writer, "upload limit %s, download limit %s\n", rateText(up), rateText(down))
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tORG\tREGION\tJURISDICTION\tROLES\tRTT\tSERVED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%.1fms\t%s\n", r.Peer, r.Org, r.Region, r.Jurisdiction, r.Roles, r.RTTms, progress.Bytes(r.Served))
	}
	return tw.Flush()
}

// rateText shows a limit in bytes per second; 0 is none.
func rateText(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return progress.Bytes(n) + "/s"
}
