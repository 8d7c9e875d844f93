package home

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cairnhub/cairn/gate"
	"github.com/cairnhub/cairn/sovereignty"
)

// PolicyEngine is the residency policy of the home: signed by this node's
// own organisation (even when it trusts others' members), the policy file
// in force when there is one.
func (h *Home) PolicyEngine(trust *sovereignty.Trust, audit sovereignty.Auditor) (*sovereignty.Engine, error) {
	cert, _ := h.Certificate()
	policyTrust := OwnOrgTrust(cert, trust)
	e := sovereignty.NewEngine(policyTrust, audit)
	if b, err := os.ReadFile(filepath.Join(h.Dir, PolicyFile)); err == nil {
		if _, err := e.Set(b); err != nil {
			return nil, fmt.Errorf("policy %s: %w", filepath.Join(h.Dir, PolicyFile), err)
		}
	}
	return e, nil
}

// Compliance is what the compliance commands work with on a node without
// a daemon: the gate over the store, the policy and the audit log.
type Compliance struct {
	Engine *sovereignty.Engine
	Trust  *sovereignty.Trust
	Audit  *sovereignty.Audit
	// Self is this node's membership from its own certificate; nil without
	// a valid one (then a policy in force refuses every import).
	Self    *sovereignty.Member
	records gate.Records
}

// OpenCompliance opens the home's audit log, trust and policy for the
// gate of a command run without a daemon, keeping the gate's records in
// records (the node's store). Close releases the audit log.
func (h *Home) OpenCompliance(records gate.Records) (*Compliance, error) {
	trust, err := h.Trust()
	if err != nil {
		return nil, err
	}
	audit, err := h.OpenAudit()
	if err != nil {
		return nil, err
	}
	e, err := h.PolicyEngine(trust, audit)
	if err != nil {
		audit.Close()
		return nil, err
	}
	c := &Compliance{Engine: e, Trust: trust, Audit: audit, records: records}
	if cert, err := h.Certificate(); err == nil && cert != nil {
		// An expired or revoked certificate gives no membership: with a
		// policy in force the import is refused, and says why.
		c.Self, _ = trust.VerifyBytes(cert, h.ID.String(), time.Now())
	}
	return c, nil
}

// Policy is the residency decision of imports via `via`, recorded in the
// same audit log as the gate's; force overrides a refusal (audited).
func (c *Compliance) Policy(via string, force bool) *sovereignty.ImportGate {
	return &sovereignty.ImportGate{Engine: c.Engine, Self: c.Self, Audit: c.Audit, Via: via, Force: force}
}

// Gate is the gate of imports via `via` ("add", "mirror", …).
func (c *Compliance) Gate(via string) *gate.Gate {
	return &gate.Gate{Engine: c.Engine, Trust: c.Trust, Records: c.records, Audit: c.Audit, Via: via}
}

// Close releases the audit log.
func (c *Compliance) Close() error { return c.Audit.Close() }

// SignedPolicy returns the signed policy saved in the home, or nil.
func (h *Home) SignedPolicy() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(h.Dir, PolicyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// OwnOrgTrust is a trust set of the organisation of cert alone (only it
// sets this node's residency policy, even when the node trusts other
// organisations' members); fallback when cert does not parse.
func OwnOrgTrust(cert []byte, fallback *sovereignty.Trust) *sovereignty.Trust {
	c, err := sovereignty.ParseCertificate(cert)
	if err != nil {
		return fallback
	}
	t, err := sovereignty.NewTrust(c.OrgKey)
	if err != nil {
		return fallback
	}
	return t
}
