package cli

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/cairnhub/cairn/sovereignty"
)

// forceFlag overrides a residency policy refusal of an import; the
// override is recorded in the audit log (and refused when it cannot be).
var forceFlag = &cli.BoolFlag{Name: "force", Usage: "import even if the residency policy refuses this node the repo (recorded in the audit log)"}

// policyExit turns a policy refusal into exit code 1 with the rule named;
// other errors pass.
func policyExit(via string, err error) error {
	if err == nil || !errors.Is(err, sovereignty.ErrPolicyRefused) {
		return err
	}
	return cli.Exit(fmt.Sprintf("%s: %v (an operator may override with --force, which is audited)", via, err), 1)
}

func cmdAuditVerify(c *cli.Context) error {
	n, err := loadHome(c)
	if err != nil {
		return err
	}
	var peers []sovereignty.Checkpoint
	if c.Bool("peers") {
		d := runningDaemon(c)
		if d == nil {
			return cli.Exit("audit verify --peers: needs the running daemon (it asks the connected members)", 1)
		}
		if peers, err = d.PeerCheckpoints(c.Context); err != nil {
			return cli.Exit(fmt.Sprintf("audit verify --peers: %v", err), 1)
		}
	}
	rep, err := n.VerifyAudit(peers)
	if err != nil {
		return cli.Exit(fmt.Sprintf("audit verify: %v", err), 1)
	}
	state := "open (the writer is running, or stopped without a final checkpoint)"
	if rep.Clean {
		state = "sealed by a final checkpoint"
	}
	fmt.Fprintf(c.App.Writer, "audit log intact: %d entries, head %s, %d signed checkpoints, %s", rep.Entries, rep.Head, rep.Checkpoints, state)
	if c.Bool("peers") {
		fmt.Fprintf(c.App.Writer, ", consistent with %d checkpoint(s) held by members", len(peers))
	}
	fmt.Fprintln(c.App.Writer)
	return nil
}

// repairBad repairs every block the store has marked bad through the
// running daemon (it fetches from members) and reports; bad is how many
// remain.
func repairBad(c *cli.Context, n nodeRef) (bad int, err error) {
	w := c.App.Writer
	if c.Bool("json") {
		w = c.App.ErrWriter
	}
	list, err := n.Store.BadBlocks(c.Context)
	if err != nil {
		return 0, err
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "repair: no bad blocks")
		return 0, nil
	}
	d := runningDaemon(c)
	if d == nil {
		fmt.Fprintf(w, "repair: %d bad blocks; start the daemon (`cairn daemon`) to fetch them from members\n", len(list))
		return len(list), nil
	}
	rep := d.RepairBlocks(c.Context, list)
	for _, b := range rep.Repaired {
		fmt.Fprintf(w, "repaired %s\n", b)
	}
	for b, why := range rep.Failed {
		fmt.Fprintf(w, "not repaired %s: %s\n", b, why)
	}
	fmt.Fprintf(w, "repair: %d of %d bad blocks repaired\n", len(rep.Repaired), len(list))
	return len(rep.Failed), nil
}
