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
	if name := commandName(app, args); name != "" && !local[name] {
		if home, err := homeFromArgs(app, args); err == nil {
			if code, ok := forward(ctx, home, args, stdout, stderr); ok {
				return code
			}
		}
	}
	return runApp(ctx, args, stdout, stderr)
}

func runApp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
	app.Commands = commands()
	return app
}

// commands is every command of the app, each group defined beside its
// code.
func commands() []*cli.Command {
	var cmds []*cli.Command
	for _, group := range [][]*cli.Command{
		repoCommands(),       // init, add, ls, get, verify, rm, gc, stat
		daemonCommands(),     // daemon, id, peers
		interopCommands(),    // block
		mirrorCommands(),     // mirror, export, import
		orgCommands(),        // org
		policyCommands(),     // policy, audit
		replicateCommands(),  // pin, unpin, status, sign
		runCommands(),        // run
		perplexityCommands(), // perplexity
		complianceCommands(), // scan, release, bom
	} {
		cmds = append(cmds, group...)
	}
	return cmds
}

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

// homeFromArgs finds the home before the app parses flags, to look for a
// daemon socket.
func homeFromArgs(app *cli.App, args []string) (string, error) {
	var home string
	for i := 1; i < len(args)-1; i++ {
		if args[i] == "--home" || args[i] == "-home" {
			home = args[i+1]
		}
	}
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--home="); ok {
			home = v
		}
	}
	if home == "" {
		home = os.Getenv("CAIRN_HOME")
	}
	if home != "" {
		return filepath.Abs(home)
	}
	d, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, ".cairn"), nil
}

// nodeRef is an open node and how to let go of it.
type nodeRef struct {
	*node.Node
	owned bool
}

// Close closes the node unless it belongs to a running daemon.
func (n nodeRef) Close() error {
	if n.owned {
		return n.Node.Close()
	}
	return nil
}

// openNode opens the home, or returns the daemon's node when the command
// runs inside the daemon; callers defer n.Close().
func openNode(c *cli.Context) (nodeRef, error) {
	if n, ok := c.Context.Value(nodeKey).(*node.Node); ok {
		return nodeRef{Node: n}, nil
	}
	dir, err := homeDir(c)
	if err != nil {
		return nodeRef{}, err
	}
	n, err := node.Open(c.Context, dir)
	if err != nil {
		return nodeRef{}, err
	}
	return nodeRef{Node: n, owned: true}, nil
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

// kindOf reads --type; its error is a usage error naming the command.
func kindOf(c *cli.Context) (manifest.Kind, error) {
	k, err := manifest.ParseKind(c.String("type"))
	if err != nil {
		return "", usageError("%s: %v", c.Command.Name, err)
	}
	return k, nil
}

// usageError exits 2, as for bad arguments.
func usageError(format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), 2)
}
