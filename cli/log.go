package cli

import (
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"
)

func setupLogging(c *cli.Context) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return usageError("--log-level %q: %v", c.String("log-level"), err)
	}
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})
	slog.SetDefault(slog.New(h))
	return nil
}
