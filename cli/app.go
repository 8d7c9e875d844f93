package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/node"
)

// Run runs the command line with args (os.Args) and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := New(stdout, stderr)
	if err := app.RunContext(ctx, interspersed(app, args)); err != nil {
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(stderr, "cairn:", msg)
			}
			return ec.ExitCode()
		}
		fmt.Fprintln(stderr, "cairn:", err)
		return 1
	}
	return 0
}

// New builds the app; commands write to stdout and stderr.
func New(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "cairn",
		Usage:                "sovereign peer-to-peer mirror for models and datasets, with edge inference",
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {}, // Run prints errors once
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "home", Usage: "node home `DIR` (default ~/.cairn)", EnvVars: []string{"CAIRN_HOME"}},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"CAIRN_LOG_LEVEL"}},
		},
		Before: setupLogging,
	}
	app.Commands = append(app.Commands, repoCommands()...)
	app.Commands = append(app.Commands, extraCommands...)
	return app
}

// extraCommands are registered by other files of this package (daemon,
// org, policy, ...), so each stays beside its own code.
var extraCommands []*cli.Command

func homeDir(c *cli.Context) (string, error) {
	if h := c.String("home"); h != "" {
		return filepath.Abs(h)
	}
	d, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("home: %w (set --home or CAIRN_HOME)", err)
	}
	return filepath.Join(d, ".cairn"), nil
}

// openNode opens the home; callers defer n.Close().
func openNode(c *cli.Context) (*node.Node, error) {
	dir, err := homeDir(c)
	if err != nil {
		return nil, err
	}
	return node.Open(c.Context, dir)
}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"}

func printJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// refArg is ORG/NAME[@REV].
type refArg struct {
	Repo, Rev string
}

func parseRef(s string) (refArg, error) {
	repo, rev, _ := strings.Cut(s, "@")
	if err := manifest.ValidateRepo(repo); err != nil {
		return refArg{}, err
	}
	if rev == "" {
		rev = "main"
	}
	if err := ingest.ValidateRevision(rev); err != nil {
		return refArg{}, err
	}
	return refArg{Repo: repo, Rev: rev}, nil
}

func (r refArg) String() string { return r.Repo + "@" + r.Rev }

var typeFlag = &cli.StringFlag{Name: "type", Value: "model", Usage: "repo type: model or dataset"}

func kindOf(c *cli.Context) (manifest.Kind, error) {
	return manifest.ParseKind(c.String("type"))
}

// usageError exits 2, as for bad arguments.
func usageError(format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), 2)
}
