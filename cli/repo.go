package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/inference/models"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/progress"
	"github.com/cairnhub/cairn/pull"
	"github.com/cairnhub/cairn/store"
)

func repoCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:  "init",
			Usage: "create the node home: config, identity, store",
			Flags: []cli.Flag{jsonFlag},
			Action: func(c *cli.Context) error {
				dir, err := homeDir(c)
				if err != nil {
					return err
				}
				id, err := home.Init(dir)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c, map[string]any{"home": dir, "peer_id": id.String()})
				}
				fmt.Fprintf(c.App.Writer, "initialised %s\npeer id %s\n", dir, id)
				return nil
			},
		},
		{
			Name:      "add",
			Usage:     "import a folder (Hugging Face repo layout) or one file as a repo revision",
			ArgsUsage: "PATH",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "repo", Usage: "ORG/NAME", Required: true},
				typeFlag,
				&cli.StringFlag{Name: "revision", Value: "main", Usage: "ref name to point at the new commit"},
				&cli.StringFlag{Name: "chunking", Value: "auto", Usage: "auto (by format), cdc or fixed"},
				&cli.BoolFlag{Name: "follow-symlinks", Usage: "import symlink targets outside PATH too (refused by default)"},
				forceFlag,
				jsonFlag,
			},
			Action: cmdAdd,
		},
		{
			Name:      "ls",
			Usage:     "list repos, or the files of one revision",
			ArgsUsage: "[ORG/NAME[@REV]]",
			Flags:     []cli.Flag{typeFlag, jsonFlag},
			Action:    cmdLs,
		},
		{
			Name:      "get",
			Usage:     "write a revision's files out, each verified against its sha256",
			ArgsUsage: "ORG/NAME[@REV] [PATH...]",
			Flags:     []cli.Flag{typeFlag, &cli.StringFlag{Name: "out", Value: ".", Usage: "output `DIR`"}, jsonFlag},
			Action:    cmdGet,
		},
		{
			Name:      "verify",
			Usage:     "re-hash every block and file of one revision or of every ref",
			ArgsUsage: "[ORG/NAME[@REV]]",
			Flags: []cli.Flag{typeFlag, jsonFlag,
				&cli.BoolFlag{Name: "repair", Usage: "fetch every bad block from members that hold it (through the running daemon) and rewrite it"}},
			Action: cmdVerify,
		},
		{
			Name:      "rm",
			Usage:     "remove a ref (ORG/NAME@REV) or every ref of a repo (ORG/NAME); blocks go at the next gc",
			ArgsUsage: "ORG/NAME[@REV]",
			Flags:     []cli.Flag{typeFlag, jsonFlag},
			Action:    cmdRm,
		},
		{
			Name:  "gc",
			Usage: "delete blocks no ref or pin reaches",
			Flags: []cli.Flag{jsonFlag},
			Action: func(c *cli.Context) error {
				n, err := openNode(c)
				if err != nil {
					return err
				}
				defer n.Close()
				st, err := n.Store.GC(c.Context)
				if err != nil {
					return err
				}
				// Materialised model files of removed revisions go too.
				ms := models.New(n.Store, filepath.Join(n.Dir, home.ModelsDir), nil, slog.Default())
				if d := runningDaemon(c); d != nil {
					ms = d.Models() // knows the files it is writing
				}
				pruned, err := ms.Prune(c.Context)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c, map[string]any{"blocks": st.Blocks, "bytes": st.Bytes, "index_entries": st.IndexEntries, "disk_freed": st.DiskFreed, "model_files": len(pruned)})
				}
				fmt.Fprintf(c.App.Writer, "removed %d blocks, %s; %s of disk given back; %d model files\n", st.Blocks, progress.Bytes(st.Bytes), progress.Bytes(st.DiskFreed), len(pruned))
				return nil
			},
		},
		{
			Name:  "stat",
			Usage: "store figures: blocks, bytes stored, bytes referenced by repos (dedup)",
			Flags: []cli.Flag{jsonFlag},
			Action: func(c *cli.Context) error {
				n, err := openNode(c)
				if err != nil {
					return err
				}
				defer n.Close()
				s, err := n.Store.Stat(c.Context)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c, map[string]any{
						"blocks": s.Blocks, "bytes_stored": s.BlockBytes, "bytes_referenced": s.RepoBytes,
						"repos": s.Repos, "revisions": s.Revisions, "commits": s.Commits, "pins": s.Pins,
						"disk_bytes": s.DiskBytes,
					})
				}
				ratio := 0.0
				if s.BlockBytes > 0 {
					ratio = float64(s.RepoBytes) / float64(s.BlockBytes)
				}
				fmt.Fprintf(c.App.Writer, "repos %d, revisions %d\nblocks %d, stored %s, referenced %s (dedup %.2fx), on disk %s\n",
					s.Repos, s.Revisions, s.Blocks, progress.Bytes(s.BlockBytes), progress.Bytes(s.RepoBytes), ratio, progress.Bytes(s.DiskBytes))
				return nil
			},
		},
	}
}

func cmdAdd(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("add: want one PATH, got %d arguments", c.NArg())
	}
	kind, err := kindOf(c)
	if err != nil {
		return err
	}
	var opts chunker.Options
	switch c.String("chunking") {
	case "auto":
	case "cdc":
		opts.Strategy = chunker.CDC
	case "fixed":
		opts.Strategy = chunker.Fixed
	default:
		return usageError("add: --chunking %q: want auto, cdc or fixed", c.String("chunking"))
	}
	n, err := openNode(c)
	if err != nil {
		return err
	}
	defer n.Close()
	policy, g, done, err := imports(c, n, "add")
	if err != nil {
		return err
	}
	defer done()
	bar := progress.New(c.App.ErrWriter, "add")
	if c.Bool("json") {
		bar = progress.New(nil, "")
	}
	res, err := ingest.Add(c.Context, n.Store, pathArg(c, c.Args().First()), ingest.AddOptions{
		Repo: c.String("repo"), Kind: kind, Revision: c.String("revision"), Chunking: opts, Progress: bar.Update,
		FollowSymlinks: c.Bool("follow-symlinks"), Policy: policy, Gate: g,
	})
	bar.Done()
	if err != nil {
		return policyExit("add", err)
	}
	m := res.Manifest
	reportGate(c.App.ErrWriter, res.Check, m.Repo, m.Commit)
	if c.Bool("json") {
		return printJSON(c, map[string]any{
			"repo": m.Repo, "type": m.Type, "revision": res.Revision, "commit": m.Commit, "root": m.Root.String(),
			"files": len(m.Files), "bytes": res.Bytes, "new_bytes": res.NewBytes,
			"seconds": res.Duration.Seconds(), "quarantined": res.Check.Quarantined(),
		})
	}
	fmt.Fprintf(c.App.Writer, "added %s@%s commit %s\nroot %s\n%d files, %s, %s new (%.1f MB/s)\n",
		m.Repo, res.Revision, m.Commit, m.Root, len(m.Files), progress.Bytes(res.Bytes), progress.Bytes(res.NewBytes),
		float64(res.Bytes)/1e6/max(res.Duration.Seconds(), 1e-9))
	return nil
}

func cmdLs(c *cli.Context) error {
	kind, err := kindOf(c)
	if err != nil {
		return err
	}
	n, err := openNode(c)
	if err != nil {
		return err
	}
	defer n.Close()
	if c.NArg() == 0 {
		refs, err := n.Store.Refs(c.Context, "", "")
		if err != nil {
			return err
		}
		if c.Bool("json") {
			type row struct {
				Type     manifest.Kind `json:"type"`
				Repo     string        `json:"repo"`
				Revision string        `json:"revision"`
				Commit   string        `json:"commit"`
				Root     string        `json:"root"`
				Size     int64         `json:"size"`
				// Quarantined: held by the compliance gate, not served.
				Quarantined bool `json:"quarantined,omitempty"`
			}
			out := []row{}
			for _, r := range refs {
				out = append(out, row{r.Kind, r.Repo, r.Revision, r.Commit, r.Root.String(), r.Size, quarantinedRef(c, n, r.Kind, r.Repo, r.Commit)})
			}
			return printJSON(c, out)
		}
		tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TYPE\tREPO\tREVISION\tCOMMIT\tSIZE\tGATE")
		for _, r := range refs {
			state := "ok"
			if quarantinedRef(c, n, r.Kind, r.Repo, r.Commit) {
				state = "QUARANTINED"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Kind, r.Repo, r.Revision, r.Commit[:12], progress.Bytes(r.Size), state)
		}
		return tw.Flush()
	}
	ref, err := parseRef(c.Args().First())
	if err != nil {
		return usageError("ls: %v", err)
	}
	m, err := n.Store.Resolve(c.Context, kind, ref.Repo, ref.Rev)
	if err != nil {
		return fmt.Errorf("ls %s: %w", ref, err)
	}
	if c.Bool("json") {
		return printJSON(c, m)
	}
	fmt.Fprintf(c.App.Writer, "%s %s@%s commit %s root %s\n", m.Type, m.Repo, ref.Rev, m.Commit, m.Root)
	printGate(c, n, m)
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SIZE\tSHA256\tPATH")
	for _, f := range m.Files {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", f.Size, f.SHA256, f.Path)
	}
	return tw.Flush()
}

func cmdGet(c *cli.Context) error {
	if c.NArg() < 1 {
		return usageError("get: want ORG/NAME[@REV] [PATH...]")
	}
	kind, err := kindOf(c)
	if err != nil {
		return err
	}
	ref, err := parseRef(c.Args().First())
	if err != nil {
		return usageError("get: %v", err)
	}
	n, err := openNode(c)
	if err != nil {
		return err
	}
	defer n.Close()
	start := time.Now()
	out := pathArg(c, c.String("out"))
	// A revision fetched now is written into out while it arrives.
	m, pulled, err := resolveOrPullOpts(c, n, kind, ref, c.Bool("json"), pull.Options{Out: out, Paths: c.Args().Slice()[1:]})
	if err != nil {
		return fmt.Errorf("get %s: %w", ref, err)
	}
	files, err := ingest.Select(m, c.Args().Slice()[1:])
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if pulled == nil || pulled.Local {
		bar := progress.New(c.App.ErrWriter, "get")
		if c.Bool("json") {
			bar = progress.New(nil, "")
		}
		err = ingest.Get(c.Context, n.Store, m, files, out, ingest.GetOptions{Progress: bar.Update})
		bar.Done()
		if err != nil {
			return err
		}
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	if c.Bool("json") {
		out := map[string]any{"repo": m.Repo, "revision": ref.Rev, "commit": m.Commit, "files": len(files), "bytes": total, "out": c.String("out"), "seconds": time.Since(start).Seconds(),
			"fetched_bytes": int64(0), "fetched_blocks": 0, "blocks_already_stored": 0, "peers": 0}
		if pulled != nil {
			// What came over the network, and what a resumed fetch found
			// already stored.
			out["fetched_bytes"], out["fetched_blocks"] = pulled.Stats.Bytes, pulled.Stats.Blocks
			out["blocks_already_stored"], out["peers"] = pulled.Stats.Skipped, len(pulled.Stats.Peers)
		}
		return printJSON(c, out)
	}
	fmt.Fprintf(c.App.Writer, "wrote %d files (%s) of %s@%s to %s, sha256 verified\n", len(files), progress.Bytes(total), m.Repo, m.Commit[:12], c.String("out"))
	return nil
}

func cmdVerify(c *cli.Context) error {
	kind, err := kindOf(c)
	if err != nil {
		return err
	}
	n, err := openNode(c)
	if err != nil {
		return err
	}
	defer n.Close()
	var targets []*manifest.Manifest
	if c.NArg() > 0 {
		ref, err := parseRef(c.Args().First())
		if err != nil {
			return usageError("verify: %v", err)
		}
		m, err := n.Store.Resolve(c.Context, kind, ref.Repo, ref.Rev)
		if err != nil {
			return fmt.Errorf("verify %s: %w", ref, err)
		}
		targets = append(targets, m)
	} else {
		refs, err := n.Store.Refs(c.Context, "", "")
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, r := range refs {
			if seen[string(r.Kind)+r.Repo+r.Commit] {
				continue
			}
			seen[string(r.Kind)+r.Repo+r.Commit] = true
			m, err := n.Store.Manifest(c.Context, r.Kind, r.Repo, r.Commit)
			if err != nil {
				return fmt.Errorf("verify %s@%s: %w", r.Repo, r.Revision, err)
			}
			targets = append(targets, m)
		}
	}
	results, bad, err := verifyTargets(c, n, targets)
	if err != nil {
		return err
	}
	if c.Bool("repair") {
		left, err := repairBad(c, n)
		if err != nil {
			return fmt.Errorf("verify --repair: %w", err)
		}
		if left == 0 && bad > 0 {
			// Report the state after the repair.
			if results, bad, err = verifyTargets(c, n, targets); err != nil {
				return err
			}
		}
	}
	if c.Bool("json") {
		if err := printJSON(c, map[string]any{"ok": bad == 0, "revisions": results}); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			status := "ok"
			if len(r.Problems) > 0 {
				status = fmt.Sprintf("%d problems", len(r.Problems))
			}
			fmt.Fprintf(c.App.Writer, "%s@%s: %d files %s\n", r.Repo, r.Commit[:12], r.Files, status)
			for _, p := range r.Problems {
				fmt.Fprintf(c.App.Writer, "  %s\n", p)
			}
		}
	}
	if bad > 0 {
		return cli.Exit(fmt.Sprintf("verify: %d problems found", bad), 1)
	}
	return nil
}

type verifyResult struct {
	Repo     string   `json:"repo"`
	Commit   string   `json:"commit"`
	Files    int      `json:"files"`
	Problems []string `json:"problems"`
}

// verifyTargets re-hashes each revision; bad counts the problems. Blocks
// that do not match their CID are marked bad by the store as they are read.
func verifyTargets(c *cli.Context, n nodeRef, targets []*manifest.Manifest) (results []verifyResult, bad int, err error) {
	for _, m := range targets {
		probs, err := ingest.Verify(c.Context, n.Store, m)
		if err != nil {
			return nil, 0, fmt.Errorf("verify %s: %w", m.Repo, err)
		}
		r := verifyResult{Repo: m.Repo, Commit: m.Commit, Files: len(m.Files), Problems: []string{}}
		for _, p := range probs {
			r.Problems = append(r.Problems, p.String())
		}
		bad += len(probs)
		results = append(results, r)
	}
	return results, bad, nil
}

func cmdRm(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("rm: want ORG/NAME[@REV]")
	}
	kind, err := kindOf(c)
	if err != nil {
		return err
	}
	arg := c.Args().First()
	ref, err := parseRef(arg)
	if err != nil {
		return usageError("rm: %v", err)
	}
	n, err := openNode(c)
	if err != nil {
		return err
	}
	defer n.Close()
	var revs []string
	if ref.Repo == arg { // no @REV: every ref of the repo
		refs, err := n.Store.Refs(c.Context, kind, ref.Repo)
		if err != nil {
			return err
		}
		for _, r := range refs {
			revs = append(revs, r.Revision)
		}
		if len(revs) == 0 {
			return fmt.Errorf("rm %s: %w", ref.Repo, store.ErrRepoNotFound)
		}
	} else {
		revs = []string{ref.Rev}
	}
	for _, r := range revs {
		if err := n.Store.DeleteRef(c.Context, kind, ref.Repo, r); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				err = store.ErrRevisionNotFound
			}
			return fmt.Errorf("rm %s@%s: %w", ref.Repo, r, err)
		}
	}
	if c.Bool("json") {
		return printJSON(c, map[string]any{"repo": ref.Repo, "removed": revs})
	}
	fmt.Fprintf(c.App.Writer, "removed %s refs %v (run `cairn gc` to free space)\n", ref.Repo, revs)
	return nil
}
