package sovereignty

import (
	"errors"
	"fmt"
)

// RefusedError is the policy's refusal to let this node hold a repo. It
// wraps ErrPolicyRefused and names the deciding rule.
type RefusedError struct {
	Repo     string
	Node     string // this node's jurisdiction (and region), as the policy saw it
	Decision Decision
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("policy: this node (%s) may not hold %s: %s", e.Node, e.Repo, e.Decision)
}

func (e *RefusedError) Unwrap() error { return ErrPolicyRefused }

const reasonNoSelf = "this node has no membership certificate, so the policy in force cannot allow it anything"

// MayHold answers whether this node, whose membership is self (from its own
// certificate), may take repo in and keep it: the Hold decision of the
// policy in force, as a *RefusedError when refused. Importers (add,
// bundle import, mirror, pulls) ask it before reading anything. A nil
// engine or no policy in force allows; with a policy in force a node
// without a certificate (self nil) is refused.
func (e *Engine) MayHold(self *Member, repo string) error {
	if e == nil || e.Policy() == nil {
		return nil
	}
	if self == nil {
		return &RefusedError{Repo: repo, Node: "no certificate", Decision: Decision{Reason: reasonNoSelf}}
	}
	d := e.Decide(Hold, repo, self)
	if d.Allow {
		return nil
	}
	node := self.Jurisdiction
	if self.Region != "" {
		node += ", region " + self.Region
	}
	return &RefusedError{Repo: repo, Node: node, Decision: d}
}

// ImportRefusedEntry is the audit entry of an import refused by the policy;
// via names the way in ("add", "bundle import", "mirror", "pull").
func ImportRefusedEntry(via, repo string, self *Member, refusal error) Entry {
	e := Entry{Kind: KindDeny, Subject: "hold: import via " + via, Repo: repo, Reason: refusal.Error()}
	if self != nil {
		e.Peer = self.PeerID
	}
	return e
}

// OverrideEntry is the audit entry of an operator overriding a policy
// refusal (a --force flag) to import anyway.
func OverrideEntry(via, repo string, self *Member, refusal error) Entry {
	e := ImportRefusedEntry(via, repo, self, refusal)
	e.Kind = KindOverride
	e.Reason = "operator override of: " + refusal.Error()
	return e
}

// ImportGate is the decision importers take through a one-method
// interface: this node's policy engine and membership, where refusals and
// overrides are recorded, and whether the operator forces the import.
type ImportGate struct {
	Engine *Engine
	Self   *Member // this node's membership; nil without a certificate
	Audit  Auditor // nil records nothing
	Via    string  // the way in: "add", "bundle import", "mirror", "pull"
	Force  bool    // import despite a refusal; recorded as KindOverride
}

// MayImport returns nil when repo may come in: allowed by the policy, or
// forced with the override recorded. A refusal is recorded and returned
// (wrapping ErrPolicyRefused). An override that cannot be recorded is
// refused: no unaudited way around the policy.
func (g *ImportGate) MayImport(repo string) error {
	refusal := g.Engine.MayHold(g.Self, repo)
	if refusal == nil {
		return nil
	}
	via := g.Via
	if via == "" {
		via = "import"
	}
	if g.Force {
		if g.Audit == nil {
			return fmt.Errorf("%w; the override cannot be recorded (no audit log), so it is refused", refusal)
		}
		if err := g.Audit.Append(OverrideEntry(via, repo, g.Self, refusal)); err != nil {
			return fmt.Errorf("%w; recording the override failed, so it is refused: %v", refusal, err)
		}
		return nil
	}
	if g.Audit != nil {
		if err := g.Audit.Append(ImportRefusedEntry(via, repo, g.Self, refusal)); err != nil {
			return errors.Join(refusal, fmt.Errorf("audit: %w", err))
		}
	}
	return refusal
}
