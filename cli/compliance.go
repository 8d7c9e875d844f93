package cli

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/bom"
	"github.com/cairnhub/cairn/bom/bomstore"
	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/modelsign"
	"github.com/cairnhub/cairn/modelsign/revsign"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// imports is what an import via `via` asks: the residency policy (may this
// node hold the repo; --force overrides, audited) and the compliance gate
// (scan and licences), both the running daemon's, or the home's opened for
// this command with one audit log. done releases what it opened, sealing
// the log with a final checkpoint.
func imports(c *cli.Context, n nodeRef, via string) (policy *sovereignty.ImportGate, g *gate.Gate, done func(), err error) {
	if d := runningDaemon(c); d != nil {
		g, err := d.Gate(via)
		return d.ImportGate(via, c.Bool("force")), g, func() {}, err
	}
	comp, err := n.OpenCompliance(n.Store)
	if err != nil {
		return nil, nil, nil, err
	}
	done = func() {
		if err := comp.Close(); err != nil {
			fmt.Fprintln(c.App.ErrWriter, "cairn: audit log:", err)
		}
	}
	return comp.Policy(via, c.Bool("force")), comp.Gate(via), done, nil
}

// importGate is the compliance gate alone, for commands that import
// nothing new (scan, release, sign).
func importGate(c *cli.Context, n nodeRef, via string) (*gate.Gate, func(), error) {
	_, g, done, err := imports(c, n, via)
	return g, done, err
}

// reportGate prints the gate's verdict on an imported revision: nothing
// for a clean one, the reasons for a quarantined one, the warnings.
func reportGate(w io.Writer, res *gate.Result, repo, commit string) {
	if res == nil {
		return
	}
	if res.Quarantined() {
		fmt.Fprintf(w, "QUARANTINED %s@%s (%s): %s\n  not served, replicated, exported or loaded until `cairn release`\n",
			repo, commit, res.Summary(), strings.Join(res.Verdict.Reasons, "; "))
	}
	for _, warn := range res.Verdict.Warnings {
		fmt.Fprintf(w, "warning %s@%s: %s\n", repo, commit, warn)
	}
}

func complianceCommands() []*cli.Command {
	return []*cli.Command{{
		Name:      "scan",
		Usage:     "rescan a stored revision with the compliance gate under the policy in force, and record the result",
		ArgsUsage: "ORG/NAME[@REV]",
		Flags:     []cli.Flag{typeFlag, jsonFlag},
		Action:    cmdScan,
	}, {
		Name:      "release",
		Usage:     "lift a revision's quarantine with a release signed by the organisation key (audited; it travels with the revision in bundles)",
		ArgsUsage: "ORG/NAME[@REV]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Required: true, Usage: "organisation key `FILE` (see `cairn org init`)"},
			&cli.StringFlag{Name: "reason", Value: "reviewed and released by an operator", Usage: "why the quarantine is lifted, kept in the release and the audit log"},
			typeFlag,
		},
		Action: cmdRelease,
	}, {
		Name:      "bom",
		Usage:     "print a revision's CycloneDX 1.6 ML bill of materials (JSON)",
		ArgsUsage: "ORG/NAME[@REV]",
		Flags:     []cli.Flag{typeFlag},
		Action:    cmdBOM,
	}}
}

// storedRevision opens the node and resolves the one ORG/NAME[@REV]
// argument of cmd.
func storedRevision(c *cli.Context, cmd string) (nodeRef, *manifest.Manifest, error) {
	if c.NArg() != 1 {
		return nodeRef{}, nil, usageError("%s: want ORG/NAME[@REV]", cmd)
	}
	ref, err := parseRef(c.Args().First())
	if err != nil {
		return nodeRef{}, nil, usageError("%s: %v", cmd, err)
	}
	kind, err := kindOf(c)
	if err != nil {
		return nodeRef{}, nil, err
	}
	n, err := openNode(c)
	if err != nil {
		return nodeRef{}, nil, err
	}
	m, err := n.Store.Resolve(c.Context, kind, ref.Repo, ref.Rev)
	if err != nil {
		n.Close()
		return nodeRef{}, nil, fmt.Errorf("%s %s: %w", cmd, ref, err)
	}
	return n, m, nil
}

func cmdScan(c *cli.Context) error {
	n, m, err := storedRevision(c, "scan")
	if err != nil {
		return err
	}
	defer n.Close()
	g, done, err := importGate(c, n, "rescan")
	if err != nil {
		return err
	}
	defer done()
	res, err := g.Check(c.Context, m.Type, m.Repo, gate.Paths(m), gate.StoreOpener(c.Context, n.Store, m))
	if err != nil {
		return fmt.Errorf("scan %s@%s: %w", m.Repo, m.Commit, err)
	}
	if err := g.Record(c.Context, res, m.Commit); err != nil {
		return fmt.Errorf("scan %s@%s: %w", m.Repo, m.Commit, err)
	}
	if c.Bool("json") {
		lic := make([]string, len(res.Licences))
		for i, l := range res.Licences {
			lic[i] = l.ID
		}
		return printJSON(c, map[string]any{"repo": m.Repo, "commit": m.Commit, "rule": res.Verdict.Rule, "files": res.Files,
			"licences": lic, "quarantined": res.Quarantined(), "reasons": res.Verdict.Reasons, "warnings": res.Verdict.Warnings})
	}
	fmt.Fprintf(c.App.Writer, "%s %s@%s: %s, rule %s\n", m.Type, m.Repo, m.Commit, res.Summary(), res.Verdict.Rule)
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERDICT\tPATH\tFINDINGS")
	for _, f := range res.Files {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Verdict, f.Path, strings.Join(f.Findings, "; "))
	}
	tw.Flush()
	reportGate(c.App.Writer, res, m.Repo, m.Commit)
	return printGate(c, n, m)
}

func cmdRelease(c *cli.Context) error {
	key, err := sovereignty.ReadOrgKey(pathArg(c, c.String("key")))
	if err != nil {
		return fmt.Errorf("release: --key: %w", err)
	}
	n, m, err := storedRevision(c, "release")
	if err != nil {
		return err
	}
	defer n.Close()
	signed, err := sovereignty.SignRelease(key, sovereignty.Release{Kind: string(m.Type), Repo: m.Repo, Commit: m.Commit, Reason: c.String("reason")})
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	g, done, err := importGate(c, n, "release")
	if err != nil {
		return err
	}
	defer done()
	r, err := g.Release(c.Context, signed)
	if err != nil {
		return fmt.Errorf("release %s@%s: %w", m.Repo, m.Commit, err)
	}
	fmt.Fprintf(c.App.Writer, "released %s %s@%s, signed by %s: %s\n", r.Kind, r.Repo, r.Commit, sovereignty.FormatOrgPublicKey(r.OrgKey), r.Reason)
	return nil
}

func cmdBOM(c *cli.Context) error {
	n, m, err := storedRevision(c, "bom")
	if err != nil {
		return err
	}
	defer n.Close()
	var holders []bom.Holder
	if d := runningDaemon(c); d != nil {
		holders = d.Holders(c.Context, m)
	} else if cert, _ := n.Certificate(); cert != nil {
		if cc, err := sovereignty.ParseCertificate(cert); err == nil {
			holders = []bom.Holder{{Peer: n.ID.String(), Jurisdiction: cc.Jurisdiction}}
		}
	}
	b, err := bomstore.Build(c.Context, n.Store, m, bomstore.Sources{Holders: holders, Upstream: n.Config.Upstream.Endpoint})
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(append(b, '\n'))
	return err
}

// printGate prints the gate's record of m: the check and the quarantine.
func printGate(c *cli.Context, n nodeRef, m *manifest.Manifest) error {
	for _, l := range gateLines(c, n, m) {
		fmt.Fprintln(c.App.Writer, l)
	}
	return nil
}

// gateLines describe the gate's record of m, one line each: the check
// (rule, counts, licences) and the quarantine or its release.
func gateLines(c *cli.Context, n nodeRef, m *manifest.Manifest) []string {
	var out []string
	if ch, ok, err := n.Store.Check(c.Context, m.Type, m.Repo, m.Commit); err == nil && ok {
		counts := map[string]int{}
		for _, f := range ch.Files {
			counts[f.Verdict]++
		}
		lic := "none detected"
		if len(ch.Licences) > 0 {
			lic = strings.Join(ch.Licences, ", ")
		}
		out = append(out, fmt.Sprintf("scan: %d unsafe, %d unknown, %d safe (rule %s, via %s, %s); licences: %s",
			counts["unsafe"], counts["unknown"], counts["safe"], ch.Rule, ch.Via, ch.Time.UTC().Format(time.RFC3339), lic))
	} else {
		out = append(out, "scan: not checked (imported before the gate; `cairn scan` checks it)")
	}
	if q, ok, err := n.Store.QuarantineOf(c.Context, m.Type, m.Repo, m.Commit); err == nil && ok {
		if q.InForce() {
			out = append(out, "QUARANTINED: "+strings.Join(q.Reasons, "; "))
		} else {
			by := "?"
			if r, err := sovereignty.ParseRelease(q.Release); err == nil {
				by = sovereignty.FormatOrgPublicKey(r.OrgKey) + ": " + r.Reason
			}
			out = append(out, fmt.Sprintf("quarantine released %s by %s (was: %s)", q.Released.UTC().Format(time.RFC3339), by, strings.Join(q.Reasons, "; ")))
		}
	}
	return out
}

// quarantinedRef reports whether a ref's revision is quarantined and not
// released, for listings.
func quarantinedRef(c *cli.Context, n nodeRef, kind manifest.Kind, repo, commit string) bool {
	q, err := n.Store.Quarantined(c.Context, kind, repo, commit)
	return err == nil && q
}

// pemKey returns the --key file's bytes when it is PEM (an OpenSSF
// model-signing key) rather than an organisation key.
func pemKey(c *cli.Context) ([]byte, bool) {
	b, err := os.ReadFile(pathArg(c, c.String("key")))
	if err != nil || !bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN")) {
		return nil, false
	}
	return b, true
}

// cmdSignModel writes an OpenSSF model-signing bundle over the revision's
// files and commits it as model.sig in a new revision of the same ref.
func cmdSignModel(c *cli.Context, ref refArg, kind manifest.Kind, keyPEM []byte) error {
	key, err := modelsign.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return fmt.Errorf("sign: --key: %w", err)
	}
	var chain []*x509.Certificate
	if p := c.String("cert"); p != "" {
		b, err := os.ReadFile(pathArg(c, p))
		if err != nil {
			return fmt.Errorf("sign: --cert: %w", err)
		}
		if chain, err = modelsign.ParseCertificatesPEM(b); err != nil {
			return fmt.Errorf("sign: --cert: %w", err)
		}
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
	if err := gate.CheckQuarantine(c.Context, n.Store, m); err != nil {
		return fmt.Errorf("sign %s: %w", ref, err)
	}
	bundle, err := revsign.Sign(m, key, chain)
	if err != nil {
		return fmt.Errorf("sign %s: %w", ref, err)
	}
	if out := c.String("out"); out != "" {
		if err := os.WriteFile(pathArg(c, out), bundle, 0o644); err != nil {
			return fmt.Errorf("sign: --out: %w", err)
		}
	}
	g, done, err := importGate(c, n, "sign")
	if err != nil {
		return err
	}
	defer done()
	signed, err := revsign.Add(c.Context, n.Store, m, ref.Rev, bundle, g)
	if err != nil {
		return fmt.Errorf("sign %s: %w", ref, err)
	}
	method := modelsign.MethodKey
	if len(chain) > 0 {
		method = modelsign.MethodCertificate
	}
	fmt.Fprintf(c.App.Writer, "signed %s@%s (commit %s, %d files) with an OpenSSF model-signing bundle (%s method); %s@%s is now commit %s with %s\n",
		m.Repo, ref.Rev, m.Commit, len(m.Files), method, m.Repo, ref.Rev, signed.Commit, modelsign.SignatureFile)
	return nil
}

// verifyMirroredSig verifies a model.sig that came with a mirrored
// revision against provenance.signing_keys and signing_roots. A bundle
// that does not verify quarantines the revision (audited) and fails the
// command; without keys or roots configured it is reported unverified.
func verifyMirroredSig(c *cli.Context, n nodeRef, g *gate.Gate, m *manifest.Manifest) error {
	if _, ok := m.File(modelsign.SignatureFile); !ok {
		return nil
	}
	cfg := n.Config.Provenance
	if len(cfg.SigningKeys)+len(cfg.SigningRoots) == 0 {
		fmt.Fprintf(c.App.ErrWriter, "%s@%s carries %s, not verified: no provenance.signing_keys or signing_roots configured\n", m.Repo, m.Commit, modelsign.SignatureFile)
		return nil
	}
	o, err := cfg.ModelSigTrust()
	if err != nil {
		return err
	}
	res, _, err := revsign.Verify(c.Context, n.Store, m, o)
	if err == nil {
		fmt.Fprintf(c.App.ErrWriter, "%s verified: %s method, signed by %s, %d files\n", modelsign.SignatureFile, res.Method, res.Signer, len(res.Files))
		return nil
	}
	v := sovereignty.Verdict{Quarantine: true, Rule: "provenance", Reasons: []string{modelsign.SignatureFile + " does not verify: " + err.Error()}}
	q := store.Quarantine{Kind: m.Type, Repo: m.Repo, Commit: m.Commit, Reasons: v.Reasons, Scan: "signature", Time: time.Now()}
	if qerr := n.Store.Quarantine(c.Context, q); qerr != nil {
		return qerr
	}
	if g.Audit != nil {
		if aerr := g.Audit.Append(sovereignty.QuarantineEntry("mirror", string(m.Type), m.Repo, m.Commit, v)); aerr != nil {
			return aerr
		}
	}
	return fmt.Errorf("mirror %s@%s: quarantined: %s does not verify: %w", m.Repo, m.Commit, modelsign.SignatureFile, err)
}
