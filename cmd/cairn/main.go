// Command cairn is every kind of Cairn node: mirror, air-gapped site, edge.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cairnhub/cairn/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
