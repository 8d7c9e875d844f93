package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/mirror"
	"github.com/cairnhub/cairn/progress"
	"github.com/cairnhub/cairn/sovereignty"
)

func mirrorCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "mirror",
			Usage:     "pull a repo revision from the upstream Hub (upstream.endpoint, upstream.token)",
			ArgsUsage: "ORG/NAME",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "revision", Value: "main", Usage: "upstream `REV`ision (branch, tag or commit); also the local ref name"},
				typeFlag,
				&cli.IntFlag{Name: "workers", Value: 4, Usage: "files downloaded at once"},
				forceFlag,
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
				jsonFlag,
			},
			Action: cmdMirror,
		},
		{
			Name:  "bundle",
			Usage: "carry repos across an air gap in CAR files",
			Subcommands: []*cli.Command{
				{
					Name:      "export",
					Usage:     "write revisions (blocks and manifests) to a CARv2 file",
					ArgsUsage: "ORG/NAME[@REV]...",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "bundle `FILE` to write (.car)"},
						&cli.StringSliceFlag{Name: "since", Usage: "`ORG/NAME@OLDREV` the other site holds: its blocks are left out (repeatable)"},
						typeFlag,
						&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
						jsonFlag,
					},
					Action: cmdBundleExport,
				},
				{
					Name:      "import",
					Usage:     "verify a bundle whole, then make its revisions visible",
					ArgsUsage: "FILE.car",
					Flags: []cli.Flag{
						forceFlag,
						&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
						jsonFlag,
					},
					Action: cmdBundleImport,
				},
			},
		},
	}
}

func bar(c *cli.Context, label string) *progress.Bar {
	if c.Bool("quiet") || c.Bool("json") {
		return progress.New(nil, "")
	}
	return progress.New(c.App.ErrWriter, label)
}

func cmdMirror(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("mirror: want ORG/NAME")
	}
	repo := c.Args().First()
	if err := manifest.ValidateRepo(repo); err != nil {
		return usageError("mirror: %v", err)
	}
	kind, err := kindOf(c)
	if err != nil {
		return err
	}
	n, err := openNode(c)
	if err != nil {
		return err
	}
	defer n.Close()
	policy, g, done, err := imports(c, n, "mirror")
	if err != nil {
		return err
	}
	defer done()
	up := n.Config.Upstream
	b := bar(c, "mirror "+repo)
	res, err := mirror.Mirror(c.Context, n.Store, repo, mirror.Options{
		Endpoint: up.Endpoint, Token: up.Token, Offline: up.Offline, RedirectHosts: up.RedirectHosts,
		Kind: kind, Revision: c.String("revision"), Workers: c.Int("workers"),
		SpoolDir: filepath.Join(n.Dir, "tmp", "mirror"),
		Progress: b.Update, Gate: g, Policy: policy,
	})
	b.Done()
	if err != nil {
		return policyExit("mirror", err)
	}
	m := res.Manifest
	reportGate(c.App.ErrWriter, res.Check, m.Repo, m.Commit)
	if err := verifyMirroredSig(c, n, g, m); err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, map[string]any{
			"repo": m.Repo, "type": m.Type, "revision": res.Revision, "commit": m.Commit, "root": m.Root.String(),
			"files": res.Files, "skipped": res.Skipped, "bytes": res.Bytes, "downloaded": res.Downloaded,
			"last_modified": m.Created.UTC().Format(time.RFC3339Nano), "endpoint": up.Endpoint, "quarantined": res.Check.Quarantined(),
		})
	}
	fmt.Fprintf(c.App.Writer, "%s@%s → commit %s: %d files, %s, %s downloaded (%d already stored)\n",
		m.Repo, res.Revision, m.Commit, res.Files, progress.Bytes(res.Bytes), progress.Bytes(res.Downloaded), res.Skipped)
	return nil
}

// exportPolicy asks the residency policy whether repo may leave in a
// bundle, and returns the audit log to record the answer in: the running
// daemon's, or the home's (opened here; close it after).
func exportPolicy(c *cli.Context, n nodeRef) (*sovereignty.Engine, *sovereignty.Audit, func(), error) {
	if d := runningDaemon(c); d != nil {
		return d.Engine, d.Audit, func() {}, nil
	}
	trust, err := n.Trust()
	if err != nil {
		return nil, nil, nil, err
	}
	audit, err := n.OpenAudit()
	if err != nil {
		return nil, nil, nil, err
	}
	e := sovereignty.NewEngine(trust, nil)
	signed, err := n.SignedPolicy()
	if err == nil && signed != nil {
		_, err = e.Set(signed)
	}
	if err != nil {
		audit.Close()
		return nil, nil, nil, fmt.Errorf("bundle export: the policy in %s cannot be checked, so nothing leaves: %w", n.Dir, err)
	}
	return e, audit, func() { audit.Close() }, nil
}

func cmdBundleExport(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageError("bundle export: want ORG/NAME[@REV]...")
	}
	kind, err := kindOf(c)
	if err != nil {
		return err
	}
	var revs, since []mirror.Rev
	for _, a := range c.Args().Slice() {
		r, err := parseRef(a)
		if err != nil {
			return usageError("bundle export: %v", err)
		}
		revs = append(revs, mirror.Rev{Kind: kind, Repo: r.Repo, Revision: r.Rev})
	}
	for _, a := range c.StringSlice("since") {
		if !strings.Contains(a, "@") {
			return usageError("bundle export --since %s: want ORG/NAME@OLDREV", a)
		}
		r, err := parseRef(a)
		if err != nil {
			return usageError("bundle export --since: %v", err)
		}
		since = append(since, mirror.Rev{Kind: kind, Repo: r.Repo, Revision: r.Rev})
	}
	n, err := openNode(c)
	if err != nil {
		return err
	}
	defer n.Close()
	engine, audit, closeAudit, err := exportPolicy(c, n)
	if err != nil {
		return err
	}
	defer closeAudit()
	for _, r := range revs {
		dec := engine.Decide(sovereignty.ExportBundle, r.Repo, nil)
		if !dec.Allow {
			if err := audit.Append(sovereignty.DenyEntry(sovereignty.ExportBundle, r.String(), nil, dec)); err != nil {
				return fmt.Errorf("bundle export %s: refused by policy (%s), and the audit failed: %w", r, dec, err)
			}
			return cli.Exit(fmt.Sprintf("bundle export %s: refused by the residency policy: %s", r, dec), 1)
		}
	}

	out := pathArg(c, c.String("out"))
	b := bar(c, "export")
	res, err := mirror.ExportFile(c.Context, n.Store, out, revs, mirror.ExportOptions{Since: since, Progress: b.Update})
	b.Done()
	if err != nil {
		return err
	}
	for _, r := range revs {
		reason := fmt.Sprintf("bundle %s: %d blocks, %d bytes", filepath.Base(out), res.Blocks, res.Bytes)
		if len(since) > 0 {
			reason += fmt.Sprintf(", incremental since %v", since)
		}
		if err := audit.Append(sovereignty.Entry{Kind: sovereignty.KindExport, Subject: "bundle", Repo: r.String(), Reason: reason}); err != nil {
			return fmt.Errorf("bundle export: written to %s, but the audit failed: %w", out, err)
		}
	}
	if c.Bool("json") {
		var roots []string
		for _, r := range res.Roots {
			roots = append(roots, r.String())
		}
		var commits []string
		for _, m := range res.Manifests {
			commits = append(commits, m.Repo+"@"+m.Commit)
		}
		return printJSON(c, map[string]any{"file": out, "bytes": res.Bytes, "blocks": res.Blocks, "skipped": res.Skipped, "roots": roots, "index": res.Index.String(), "commits": commits})
	}
	fmt.Fprintf(c.App.Writer, "wrote %s: %d revisions, %d blocks, %s", out, len(revs), res.Blocks, progress.Bytes(res.Bytes))
	if len(since) > 0 {
		fmt.Fprintf(c.App.Writer, " (%d blocks left out: the other site holds them)", res.Skipped)
	}
	fmt.Fprintln(c.App.Writer)
	return nil
}

func cmdBundleImport(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("bundle import: want FILE.car")
	}
	path := pathArg(c, c.Args().First())
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("bundle import: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("bundle import: %w", err)
	}
	n, err := openNode(c)
	if err != nil {
		return err
	}
	defer n.Close()
	policy, g, done, err := imports(c, n, "bundle import")
	if err != nil {
		return err
	}
	defer done()
	b := bar(c, "import")
	res, err := mirror.Import(c.Context, n.Store, f, mirror.ImportOptions{Progress: func(done int64) { b.Update(done, fi.Size()) }, Gate: g, Policy: policy})
	b.Done()
	if err != nil {
		if errors.Is(err, sovereignty.ErrPolicyRefused) {
			return policyExit("bundle import "+path+": nothing imported", err)
		}
		if errors.Is(err, mirror.ErrBundle) {
			return fmt.Errorf("bundle import %s: refused, nothing imported: %w", path, err)
		}
		return fmt.Errorf("bundle import %s: %w", path, err)
	}
	if c.Bool("json") {
		return printJSON(c, map[string]any{"file": path, "revisions": res.Revisions, "blocks": res.Blocks, "bytes": res.Bytes, "new_bytes": res.NewBytes})
	}
	for _, r := range res.Revisions {
		fmt.Fprintf(c.App.Writer, "imported %s %s@%s → commit %s\n", r.Kind, r.Repo, r.Revision, r.Commit)
		if r.Quarantined {
			fmt.Fprintf(c.App.ErrWriter, "QUARANTINED %s@%s: not served, replicated, exported or loaded until `cairn release`\n", r.Repo, r.Commit)
		}
	}
	return nil
}
