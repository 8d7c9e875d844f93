package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/home"
	"github.com/cairnhub/cairn/node"
	"github.com/cairnhub/cairn/sovereignty"
)

func policyCommands() []*cli.Command {
	var cmds []*cli.Command
	cmds = append(cmds, &cli.Command{
		Name:  "policy",
		Usage: "residency policies: sign, set, show, check",
		Subcommands: []*cli.Command{
			{
				Name:      "sign",
				Usage:     "sign a YAML policy with the organisation key",
				ArgsUsage: "FILE",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "key", Required: true, Usage: "organisation key `FILE`"},
					&cli.StringFlag{Name: "out", Required: true, Usage: "signed policy `FILE`"},
					&cli.Uint64Flag{Name: "version", Usage: "policy version, greater than the one in force (default: the current Unix time)"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError("policy sign: want FILE")
					}
					doc, err := os.ReadFile(pathArg(c, c.Args().First()))
					if err != nil {
						return err
					}
					k, err := sovereignty.ReadOrgKey(pathArg(c, c.String("key")))
					if err != nil {
						return err
					}
					v := c.Uint64("version")
					if v == 0 {
						v = uint64(time.Now().Unix())
					}
					signed, err := sovereignty.SignPolicy(k, doc, v)
					if err != nil {
						return fmt.Errorf("policy sign %s: %w", c.Args().First(), err)
					}
					return os.WriteFile(pathArg(c, c.String("out")), signed, 0o644)
				},
			},
			{
				Name:      "set",
				Usage:     "put a signed policy in force on this node (a running daemon sends it to every member)",
				ArgsUsage: "SIGNED",
				Action:    cmdPolicySet,
			},
			{
				Name:  "show",
				Usage: "print the policy in force",
				Flags: []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					n, err := loadHome(c)
					if err != nil {
						return err
					}
					signed, err := n.SignedPolicy()
					if err != nil {
						return err
					}
					if signed == nil {
						fmt.Fprintln(c.App.Writer, "no policy: every verified member of a trusted organisation may hold and receive every repo")
						return nil
					}
					sp, err := sovereignty.ParseSignedPolicy(signed)
					if err != nil {
						return err
					}
					p, err := sovereignty.ParsePolicy(sp.Payload)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(c, map[string]any{"version": sp.Version, "org_key": sovereignty.FormatOrgPublicKey(sp.OrgKey), "rules": p.Rules, "jurisdictions": p.Jurisdictions})
					}
					fmt.Fprintf(c.App.Writer, "# version %d, signed by %s\n%s", sp.Version, sovereignty.FormatOrgPublicKey(sp.OrgKey), sp.Payload)
					return nil
				},
			},
			{
				Name:      "check",
				Usage:     "explain the decision for a repo and a peer (exit 0 allow, 1 deny)",
				ArgsUsage: "ORG/NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "peer", Usage: "connected peer `ID` (its certificate gives the jurisdiction)"},
					&cli.StringFlag{Name: "jurisdiction", Usage: "ISO 3166 `CODE`, instead of --peer"},
					&cli.StringFlag{Name: "region", Usage: "region `NAME`, with --jurisdiction"},
					&cli.StringFlag{Name: "action", Value: "receive", Usage: "hold, receive, prompts or export_bundles"},
					&cli.StringFlag{Name: "policy", Usage: "check an unsigned YAML draft `FILE` instead of the policy in force"},
					jsonFlag,
				},
				Action: cmdPolicyCheck,
			},
		},
	})
	cmds = append(cmds, &cli.Command{
		Name:  "audit",
		Usage: "the hash-chained audit log",
		Subcommands: []*cli.Command{
			{
				Name:   "verify",
				Usage:  "check the chain and its signed checkpoints (node key); exit 1 naming the first broken entry",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "peers", Usage: "also check against the checkpoints of this log the connected members hold"}},
				Action: cmdAuditVerify,
			},
			{
				Name:  "tail",
				Usage: "print the last entries",
				Flags: []cli.Flag{&cli.IntFlag{Name: "n", Value: 20, Usage: "how many entries"}, jsonFlag},
				Action: func(c *cli.Context) error {
					n, err := loadHome(c)
					if err != nil {
						return err
					}
					es, err := sovereignty.Tail(n.Dir+"/"+home.AuditFile, c.Int("n"))
					if err != nil && !errors.Is(err, os.ErrNotExist) {
						return err
					}
					if c.Bool("json") {
						if es == nil {
							es = []sovereignty.Entry{}
						}
						return printJSON(c, es)
					}
					for _, e := range es {
						fmt.Fprintf(c.App.Writer, "%d %s %-9s %s peer=%s repo=%s %s\n", e.Seq, e.Time.Format(time.RFC3339), e.Kind, e.Subject, e.Peer, e.Repo, e.Reason)
					}
					return nil
				},
			},
		},
	})
	return cmds
}

func cmdPolicySet(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("policy set: want SIGNED")
	}
	signed, err := os.ReadFile(pathArg(c, c.Args().First()))
	if err != nil {
		return err
	}
	if d := runningDaemon(c); d != nil {
		p, err := d.SetPolicy(c.Context, signed)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "policy version %d in force (%d rules), sent to %d members\n", p.Version, len(p.Rules), peerCount(d))
		return nil
	}
	n, err := openNode(c)
	if err != nil {
		return err
	}
	defer n.Close()
	d, err := n.StartDaemon(c.Context, node.DaemonOptions{HTTPAddr: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		return err
	}
	defer d.Close()
	p, err := d.SetPolicy(c.Context, signed)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "policy version %d in force (%d rules); members get it when the daemon runs\n", p.Version, len(p.Rules))
	return nil
}

func peerCount(d *node.Daemon) int {
	if d.Host == nil {
		return 0
	}
	return len(d.Host.Peers())
}

func cmdPolicyCheck(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("policy check: want ORG/NAME")
	}
	repo := c.Args().First()
	a, err := sovereignty.ParseAction(c.String("action"))
	if err != nil {
		return usageError("policy check: %v", err)
	}
	var m *sovereignty.Member
	switch {
	case c.String("peer") != "":
		d := runningDaemon(c)
		if d == nil || d.Host == nil {
			return errors.New("policy check --peer: needs a running daemon connected to that peer (or use --jurisdiction)")
		}
		for _, p := range d.Host.Peers() {
			if p.ID.String() == c.String("peer") {
				m = p.Member
			}
		}
		if m == nil {
			return fmt.Errorf("policy check: peer %s is not a connected member", c.String("peer"))
		}
	case c.String("jurisdiction") != "":
		m = &sovereignty.Member{Jurisdiction: strings.ToUpper(c.String("jurisdiction")), Region: c.String("region")}
	default:
		return usageError("policy check: give --peer or --jurisdiction")
	}
	var dec sovereignty.Decision
	if f := c.String("policy"); f != "" {
		doc, err := os.ReadFile(pathArg(c, f))
		if err != nil {
			return err
		}
		p, err := sovereignty.ParsePolicy(doc)
		if err != nil {
			return err
		}
		dec = p.Decide(a, repo, m)
	} else {
		n, err := loadHome(c)
		if err != nil {
			return err
		}
		e := sovereignty.NewEngine(nil, nil)
		if d := runningDaemon(c); d != nil {
			e = d.Engine
		} else if signed, err := n.SignedPolicy(); err != nil {
			return err
		} else if signed != nil {
			sp, err := sovereignty.ParseSignedPolicy(signed)
			if err != nil {
				return err
			}
			p, err := sovereignty.ParsePolicy(sp.Payload)
			if err != nil {
				return err
			}
			dec = p.Decide(a, repo, m)
			return reportDecision(c, a, repo, m, dec)
		}
		dec = e.Decide(a, repo, m)
	}
	return reportDecision(c, a, repo, m, dec)
}

func reportDecision(c *cli.Context, a sovereignty.Action, repo string, m *sovereignty.Member, dec sovereignty.Decision) error {
	if c.Bool("json") {
		printJSON(c, map[string]any{"allow": dec.Allow, "action": a.String(), "repo": repo, "jurisdiction": m.Jurisdiction, "rule": dec.Rule, "reason": dec.Reason})
	} else {
		verdict := "deny"
		if dec.Allow {
			verdict = "allow"
		}
		fmt.Fprintf(c.App.Writer, "%s: %s %s for %s (rule %q: %s)\n", verdict, a, repo, m.Jurisdiction, dec.Rule, dec.Reason)
	}
	if !dec.Allow {
		return cli.Exit("", 1)
	}
	return nil
}
