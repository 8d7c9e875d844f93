package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/node"
	"github.com/cairnhub/cairn/sovereignty"
)

func orgCommands() []*cli.Command {
	return []*cli.Command{{
		Name:  "org",
		Usage: "organisation keys and node membership certificates",
		Subcommands: []*cli.Command{
			{
				Name:  "init",
				Usage: "create an organisation key (keep the file apart from nodes) and print its public key",
				Flags: []cli.Flag{&cli.StringFlag{Name: "key", Required: true, Usage: "`FILE` to create"}, jsonFlag},
				Action: func(c *cli.Context) error {
					k, err := sovereignty.GenerateOrgKey()
					if err != nil {
						return err
					}
					if err := sovereignty.WriteOrgKey(pathArg(c, c.String("key")), k); err != nil {
						return fmt.Errorf("org init: %w", err)
					}
					pub := sovereignty.FormatOrgPublicKey(sovereignty.OrgPublicKey(k))
					if c.Bool("json") {
						return printJSON(c, map[string]string{"public_key": pub, "key_file": c.String("key")})
					}
					fmt.Fprintln(c.App.Writer, pub)
					return nil
				},
			},
			{
				Name:  "issue",
				Usage: "sign a node certificate",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "key", Required: true, Usage: "organisation key `FILE`"},
					&cli.StringFlag{Name: "org", Value: "org", Usage: "organisation `NAME` written in the certificate"},
					&cli.StringFlag{Name: "peer", Required: true, Usage: "the node's peer `ID` (cairn id)"},
					&cli.StringFlag{Name: "region", Required: true, Usage: "region `NAME`, e.g. eu-central"},
					&cli.StringFlag{Name: "jurisdiction", Required: true, Usage: "ISO 3166 `CODE`, e.g. DE"},
					&cli.StringSliceFlag{Name: "role", Required: true, Usage: "mirror, edge, ... (repeatable)"},
					&cli.StringFlag{Name: "expires", Value: "8760h", Usage: "validity as a `DURATION` (8760h = 1 year) or an RFC 3339 date"},
					&cli.StringFlag{Name: "serial", Usage: "certificate serial (default random)"},
					&cli.StringFlag{Name: "out", Required: true, Usage: "certificate `FILE` to write"},
				},
				Action: cmdOrgIssue,
			},
			{
				Name:      "join",
				Usage:     "install this node's certificate and trust the organisation's key",
				ArgsUsage: "CERT ORG-PUBKEY",
				Flags:     []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return usageError("org join: want CERT ORG-PUBKEY")
					}
					n, err := loadHome(c)
					if err != nil {
						return err
					}
					cert, err := os.ReadFile(pathArg(c, c.Args().Get(0)))
					if err != nil {
						return fmt.Errorf("org join: %w", err)
					}
					m, err := n.Join(cert, c.Args().Get(1))
					if err != nil {
						return err
					}
					applied := "restart the daemon to apply"
					if d := runningDaemon(c); d != nil && d.Host != nil {
						if err := d.Renew(c.Context, cert); err != nil {
							return fmt.Errorf("org join: running daemon: %w", err)
						}
						applied = "in force on the running daemon"
					}
					if c.Bool("json") {
						return printJSON(c, m)
					}
					fmt.Fprintf(c.App.Writer, "joined %s as %s in %s/%s, roles %v, expires %s (%s)\n",
						m.Org, m.PeerID, m.Region, m.Jurisdiction, m.Roles, m.Expires.Format(time.RFC3339), applied)
					return nil
				},
			},
			{
				Name:      "trust",
				Usage:     "also trust another organisation's key (federation)",
				ArgsUsage: "ORG-PUBKEY",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError("org trust: want ORG-PUBKEY")
					}
					n, err := loadHome(c)
					if err != nil {
						return err
					}
					return n.TrustOrg(c.Args().First())
				},
			},
			{
				Name:  "revoke",
				Usage: "sign a revocation list (every revoked serial, a growing version)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "key", Required: true, Usage: "organisation key `FILE`"},
					&cli.StringFlag{Name: "org", Value: "org", Usage: "organisation `NAME`"},
					&cli.StringSliceFlag{Name: "serial", Required: true, Usage: "revoked serial (repeatable)"},
					&cli.Uint64Flag{Name: "version", Required: true, Usage: "list version, greater than the last one"},
					&cli.StringFlag{Name: "out", Required: true, Usage: "revocation list `FILE`"},
				},
				Action: func(c *cli.Context) error {
					k, err := sovereignty.ReadOrgKey(pathArg(c, c.String("key")))
					if err != nil {
						return err
					}
					b, err := sovereignty.SignRevocations(k, sovereignty.Revocations{Org: c.String("org"), Version: c.Uint64("version"), Serials: c.StringSlice("serial")})
					if err != nil {
						return fmt.Errorf("org revoke: %w", err)
					}
					return os.WriteFile(pathArg(c, c.String("out")), b, 0o644)
				},
			},
			{
				Name:      "revocations",
				Usage:     "install a signed revocation list on this node (a running daemon gossips it to peers)",
				ArgsUsage: "FILE",
				Action:    cmdOrgRevocations,
			},
		},
	}}
}

func loadHome(c *cli.Context) (*node.Node, error) {
	if n, ok := c.Context.Value(nodeKey).(*node.Node); ok {
		return n, nil
	}
	dir, err := homeDir(c)
	if err != nil {
		return nil, err
	}
	return node.LoadHome(dir)
}

func cmdOrgIssue(c *cli.Context) error {
	k, err := sovereignty.ReadOrgKey(pathArg(c, c.String("key")))
	if err != nil {
		return err
	}
	exp, err := parseExpiry(c.String("expires"))
	if err != nil {
		return usageError("org issue: --expires: %v", err)
	}
	cert, err := sovereignty.Issue(k, sovereignty.Certificate{
		Org: c.String("org"), PeerID: c.String("peer"), Region: c.String("region"),
		Jurisdiction: strings.ToUpper(c.String("jurisdiction")), Roles: c.StringSlice("role"),
		Serial: c.String("serial"), Expires: exp,
	})
	if err != nil {
		return fmt.Errorf("org issue: %w", err)
	}
	out := pathArg(c, c.String("out"))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, cert, 0o644)
}

func parseExpiry(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q: must be positive", s)
		}
		return time.Now().Add(d), nil
	}
	return time.Parse(time.RFC3339, s)
}

func cmdOrgRevocations(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("org revocations: want FILE")
	}
	b, err := os.ReadFile(pathArg(c, c.Args().First()))
	if err != nil {
		return err
	}
	n, err := loadHome(c)
	if err != nil {
		return err
	}
	t, err := n.Trust()
	if err != nil {
		return err
	}
	if err := t.AddRevocations(b); err != nil {
		return fmt.Errorf("org revocations: %w", err)
	}
	r, _ := sovereignty.ParseRevocations(b)
	if err := n.SaveRevocations(b); err != nil {
		return err
	}
	if d := runningDaemon(c); d != nil && d.Host != nil {
		if err := d.AddRevocations(c.Context, b); err != nil {
			return fmt.Errorf("org revocations: daemon: %w", err)
		}
	}
	fmt.Fprintf(c.App.Writer, "installed revocation list %s v%d (%d serials)\n", r.Org, r.Version, len(r.Serials))
	return nil
}
