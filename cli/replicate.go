package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/replicate"
	"github.com/cairnhub/cairn/sovereignty"
)

// Replication and provenance commands: pin, unpin, status, sign.
func replicateCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "pin",
			Usage:     "keep a revision on N nodes of the cluster (default: the policy's min, else 2)",
			ArgsUsage: "ORG/NAME[@REV]",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "replicas", Usage: "replication `N` (capped by the policy's max)"},
				typeFlag,
			},
			Action: cmdPin,
		},
		{
			Name:      "unpin",
			Usage:     "drop a pin; nodes release the replicas they fetched for it",
			ArgsUsage: "ORG/NAME[@REV]",
			Flags:     []cli.Flag{typeFlag},
			Action:    cmdUnpin,
		},
		{
			Name:      "status",
			Usage:     "where a revision's replicas are, the placement target, and whether the policy is met",
			ArgsUsage: "ORG/NAME[@REV]",
			Flags:     []cli.Flag{typeFlag, jsonFlag},
			Action:    cmdStatus,
		},
		{
			Name:      "sign",
			Usage:     "sign a stored revision: with an organisation key, Cairn's manifest signature; with a PEM key, an OpenSSF model-signing bundle (model.sig) in a new revision",
			ArgsUsage: "ORG/NAME[@REV]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "key", Required: true, Usage: "publisher key `FILE`: an organisation key (see `cairn org init`), or a PEM private key (ECDSA P-256/384/521 or ed25519) for model.sig"},
				&cli.StringFlag{Name: "cert", Usage: "with a PEM key: its certificate chain `FILE` (signing certificate first), for the certificate method"},
				&cli.StringFlag{Name: "out", Usage: "with a PEM key: also write model.sig to `FILE`"},
				typeFlag,
			},
			Action: cmdSign,
		},
	}
}

func cmdPin(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("pin: want ORG/NAME[@REV]")
	}
	ref, err := parseRef(c.Args().First())
	if err != nil {
		return usageError("pin: %v", err)
	}
	kind, err := kindOf(c)
	if err != nil {
		return err
	}
	n := c.Int("replicas")
	if n < 0 {
		return usageError("pin: --replicas %d: must not be negative", n)
	}
	if d := runningDaemon(c); d != nil && d.Host != nil {
		r, err := d.Replication()
		if err != nil {
			return err
		}
		i, err := r.Pin(c.Context, kind, ref.Repo, ref.Rev, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "pinned %s (%s), sent to %d members\n", ref, describeIntent(i.Commit, i.Replicas), peerCount(d))
		return nil
	}
	nd, err := openNode(c)
	if err != nil {
		return err
	}
	defer nd.Close()
	i, err := replicate.NewIntent(c.Context, nd.Store, nd.ID.String(), kind, ref.Repo, ref.Rev, n)
	if err != nil {
		return fmt.Errorf("pin %s: %w", ref, err)
	}
	if err := replicate.RecordIntent(filepath.Join(nd.Dir, replicate.PinsFile), i); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "pinned %s (%s); members get it when the daemon runs\n", ref, describeIntent(i.Commit, i.Replicas))
	return nil
}

func describeIntent(commit string, n int) string {
	f := "factor from policy or default"
	if n > 0 {
		f = fmt.Sprintf("%d replicas", n)
	}
	if commit != "" {
		return f + ", commit " + commit
	}
	return f + ", revision not held here: whatever holders name it"
}

func cmdUnpin(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("unpin: want ORG/NAME[@REV]")
	}
	ref, err := parseRef(c.Args().First())
	if err != nil {
		return usageError("unpin: %v", err)
	}
	kind, err := kindOf(c)
	if err != nil {
		return err
	}
	d := runningDaemon(c)
	if d == nil || d.Host == nil {
		return errors.New("unpin: needs a running daemon connected to the cluster (start `cairn daemon`)")
	}
	r, err := d.Replication()
	if err != nil {
		return err
	}
	if err := r.Unpin(c.Context, kind, ref.Repo, ref.Rev); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "unpinned %s, sent to %d members\n", ref, peerCount(d))
	return nil
}

func cmdStatus(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("status: want ORG/NAME[@REV]")
	}
	ref, err := parseRef(c.Args().First())
	if err != nil {
		return usageError("status: %v", err)
	}
	kind, err := kindOf(c)
	if err != nil {
		return err
	}
	d := runningDaemon(c)
	if d == nil || d.Host == nil {
		return errors.New("status: needs a running daemon connected to the cluster (start `cairn daemon`)")
	}
	r, err := d.Replication()
	if err != nil {
		return err
	}
	st, err := r.Status(c.Context, kind, ref.Repo, ref.Rev)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, st)
	}
	w := c.App.Writer
	pin := "not pinned"
	if st.Intent != nil {
		pin = "pinned by " + st.Intent.By
		if st.Intent.Removed {
			pin = "unpinned by " + st.Intent.By
		}
		if st.Intent.Commit != "" {
			pin += ", commit " + st.Intent.Commit
		}
	}
	verdict := "policy met"
	if !st.Met {
		verdict = "policy NOT met: " + strings.Join(st.Problems, "; ")
	}
	fmt.Fprintf(w, "%s %s@%s: %s\n%s\nwanted %d replicas", st.Kind, st.Repo, st.Revision, pin, verdict, st.Wanted)
	qs := make([]string, 0, len(st.Quotas))
	for k := range st.Quotas {
		qs = append(qs, k)
	}
	sort.Strings(qs)
	for _, k := range qs {
		fmt.Fprintf(w, ", at least %d in %s", st.Quotas[k], k)
	}
	fmt.Fprintf(w, "; %d eligible mirror nodes\ntarget: %s\n", st.Eligible, strings.Join(st.Target, " "))
	if m, err := d.Node().Store.Resolve(c.Context, kind, ref.Repo, ref.Rev); err == nil {
		printGate(c, nodeRef{Node: d.Node()}, m)
	}
	if len(st.Lost) > 0 {
		fmt.Fprintf(w, "lost holders (gone past the grace period): %s\n", strings.Join(st.Lost, " "))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOLDER\tJURISDICTION\tREGION\tCOMMIT\tREPLICA\tTARGET\tALLOWED\tSTATE")
	for _, h := range st.Holders {
		state := "live"
		if h.Gone {
			state = "gone (grace)"
		}
		if h.Self {
			state = "this node"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.12s\t%v\t%v\t%v\t%s\n", h.Peer, h.Jurisdiction, h.Region, h.Commit, h.Replica, h.Chosen, h.Allowed, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !st.Met {
		return cli.Exit("", 1)
	}
	return nil
}

func cmdSign(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("sign: want ORG/NAME[@REV]")
	}
	ref, err := parseRef(c.Args().First())
	if err != nil {
		return usageError("sign: %v", err)
	}
	kind, err := kindOf(c)
	if err != nil {
		return err
	}
	if pem, ok := pemKey(c); ok {
		return cmdSignModel(c, ref, kind, pem)
	}
	key, err := sovereignty.ReadOrgKey(pathArg(c, c.String("key")))
	if err != nil {
		return fmt.Errorf("sign: --key: %w", err)
	}
	n, err := openNode(c)
	if err != nil {
		return err
	}
	defer n.Close()
	m, err := n.Store.Resolve(c.Context, kind, ref.Repo, ref.Rev)
	if err != nil {
		return fmt.Errorf("sign %s: %w", ref, err)
	}
	if err := sovereignty.SignManifest(m, key); err != nil {
		return err
	}
	if err := n.Store.Commit(c.Context, m, ref.Rev, nil); err != nil {
		return fmt.Errorf("sign %s: %w", ref, err)
	}
	fmt.Fprintf(c.App.Writer, "signed %s (commit %s) as %s; %d signature(s)\n", ref, m.Commit, sovereignty.FormatOrgPublicKey(sovereignty.OrgPublicKey(key)), len(m.Signatures))
	return nil
}
