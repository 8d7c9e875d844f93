package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/hfapi"
	"github.com/cairnhub/cairn/node"
)

// The Hugging Face-compatible API takes every path the daemon's mux does
// not route more precisely ("/v1/" for OpenAI, "/metrics").
func init() {
	daemonHooks = append(daemonHooks, func(c *cli.Context, d *node.Daemon) error {
		cfg := d.Node().Config.HTTP
		o := hfapi.Options{Decider: d.Engine}
		if d.Audit != nil {
			o.Auditor = d.Audit
		}
		for _, t := range cfg.Tokens {
			o.Tokens = append(o.Tokens, hfapi.Token{Token: t.Token, Jurisdiction: t.Jurisdiction})
		}
		s, err := hfapi.New(d.Node().Store, o)
		if err != nil {
			return fmt.Errorf("http api: %w", err)
		}
		d.Mux().Handle("/", s)
		return nil
	})
}
