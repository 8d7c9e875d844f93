package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/gate"
)

// importGate is the compliance gate of imports via `via`: the running
// daemon's (its policy and audit log), or the home's opened for this
// command. done releases what it opened.
func importGate(c *cli.Context, n nodeRef, via string) (g *gate.Gate, done func(), err error) {
	if d := runningDaemon(c); d != nil {
		g, err := d.Gate(via)
		return g, func() {}, err
	}
	comp, err := n.OpenCompliance()
	if err != nil {
		return nil, nil, err
	}
	return comp.Gate(via), func() { comp.Close() }, nil
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
