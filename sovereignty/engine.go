package sovereignty

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Decision is the answer of Engine.Decide.
type Decision struct {
	Allow  bool
	Rule   string // the deciding rule, e.g. "repos[0] acme/*"; "default" without a policy; "" when no rule matched
	Reason string // e.g. "jurisdiction FR not in receive [DE]"
}

func (d Decision) String() string {
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	if d.Rule == "" {
		return verdict + ": " + d.Reason
	}
	return verdict + " by " + d.Rule + ": " + d.Reason
}

// Auditor receives audit entries; *Audit implements it. The engine records
// each policy change through it.
type Auditor interface {
	Append(e Entry) error
}

// Engine holds the policy in force and answers every residency question.
// Decide and Replicas are safe for concurrent use with Set; they read an
// atomically swapped pointer and take no lock.
type Engine struct {
	trust *Trust
	audit Auditor

	mu     sync.Mutex // serialises Set
	cur    atomic.Pointer[Policy]
	signed atomic.Pointer[[]byte]
}

// NewEngine returns an engine with no policy in force. Policies must be
// signed by an organisation in trust; pass a Trust holding only the node's
// own organisation when other trusted organisations must not set policy.
// audit may be nil.
func NewEngine(trust *Trust, audit Auditor) *Engine {
	return &Engine{trust: trust, audit: audit}
}

// Set verifies a signed policy and puts it in force. On any error (malformed,
// untrusted, bad signature, invalid policy, or ErrStale when its version is
// not greater than the one in force) the previous policy stays in force.
// A successful change is recorded in the audit log, if any; an audit failure
// is returned but the new policy stays in force.
func (e *Engine) Set(signed []byte) (*Policy, error) {
	p, err := VerifyPolicy(e.trust, signed)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur := e.cur.Load(); cur != nil && p.Version <= cur.Version {
		return nil, fmt.Errorf("policy version %d, in force %d: %w", p.Version, cur.Version, ErrStale)
	}
	prev := e.cur.Load()
	b := bytes.Clone(signed)
	e.signed.Store(&b)
	e.cur.Store(p)
	if e.audit != nil {
		reason := fmt.Sprintf("policy version %d in force, signed by %s, %d rules", p.Version, FormatOrgPublicKey(p.OrgKey), len(p.Rules))
		if prev != nil {
			reason += fmt.Sprintf(", replacing version %d", prev.Version)
		}
		if err := e.audit.Append(Entry{Kind: KindPolicy, Time: time.Now(), Subject: fmt.Sprintf("policy v%d", p.Version), Reason: reason}); err != nil {
			return p, fmt.Errorf("policy set, audit failed: %w", err)
		}
	}
	return p, nil
}

// Policy returns the policy in force, or nil.
func (e *Engine) Policy() *Policy { return e.cur.Load() }

// Signed returns the signed envelope of the policy in force (nil when none),
// for persisting it and gossiping it to peers.
func (e *Engine) Signed() []byte {
	if b := e.signed.Load(); b != nil {
		return bytes.Clone(*b)
	}
	return nil
}

const (
	ruleDefault     = "default"
	reasonDefault   = "no policy in force: members of trusted organisations are allowed"
	reasonNoMember  = "no verified member"
	reasonBadCode   = "member jurisdiction is not an ISO 3166-1 alpha-2 code"
	reasonNoRule    = "no policy rule matches the repo"
	reasonBadAction = "unknown action"
	reasonNilEngine = "no policy engine"
)

// Decide answers whether action a on repo (ORG/NAME; an "@revision" suffix
// is ignored) is allowed for member m, under the policy in force. It is the
// one decision function every exit uses; see (*Policy).Decide for the rules.
// It takes no lock and does not allocate once a rule's reason for a
// jurisdiction has been built.
func (e *Engine) Decide(a Action, repo string, m *Member) Decision {
	if e == nil {
		return Decision{Reason: reasonNilEngine}
	}
	return e.cur.Load().Decide(a, repo, m)
}

// Decide answers whether action a on repo is allowed for member m under p; a
// nil p means no policy. Engine.Decide calls it with the policy in force;
// call it directly to check a draft before signing it. m may be nil for
// ExportBundle, which depends on the rule only; for other actions a nil
// member is denied. Without a policy every member is allowed (rule
// "default"); with a policy the first matching rule decides, and a repo no
// rule matches is denied. A member whose jurisdiction is not a valid code is
// denied.
func (p *Policy) Decide(a Action, repo string, m *Member) Decision {
	if a < 0 || a >= numActions {
		return Decision{Reason: reasonBadAction}
	}
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo = repo[:i]
	}
	if p == nil {
		if m == nil && a != ExportBundle {
			return Decision{Rule: ruleDefault, Reason: reasonNoMember}
		}
		return Decision{Allow: true, Rule: ruleDefault, Reason: reasonDefault}
	}
	r := p.match(repo)
	if r == nil {
		return Decision{Reason: reasonNoRule}
	}
	if a == ExportBundle {
		return Decision{Allow: r.export, Rule: r.name, Reason: r.exportReason}
	}
	if m == nil {
		return Decision{Rule: r.name, Reason: reasonNoMember}
	}
	ci := codeIndex(m.Jurisdiction)
	if ci < 0 || !validCodes.has(ci) {
		return Decision{Rule: r.name, Reason: reasonBadCode}
	}
	allow := r.sets[a].has(ci)
	if !allow && r.regions[a] != nil {
		if reason, ok := r.regions[a][m.Region]; ok {
			return Decision{Allow: true, Rule: r.name, Reason: reason}
		}
	}
	return Decision{Allow: allow, Rule: r.name, Reason: r.reason(a, ci, allow)}
}

// Replicas returns the replication the policy wants for repo: min and max
// replicas and at least in[code or group] replicas there. All zero/nil when
// no policy is in force, no rule matches, or the rule does not say. The map
// is a copy.
func (e *Engine) Replicas(repo string) (min, max int, in map[string]int) {
	return e.cur.Load().Replicas(repo)
}

// Replicas is Engine.Replicas for policy p (nil means no policy).
func (p *Policy) Replicas(repo string) (min, max int, in map[string]int) {
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo = repo[:i]
	}
	if p == nil {
		return 0, 0, nil
	}
	r := p.match(repo)
	if r == nil {
		return 0, 0, nil
	}
	return r.replicas.Min, r.replicas.Max, maps.Clone(r.replicas.In)
}

// Rule returns the name of the rule that governs repo ("" when none), for
// explaining decisions (cairn policy check).
func (e *Engine) Rule(repo string) string {
	p := e.cur.Load()
	if p == nil {
		return ruleDefault
	}
	if r := p.match(repo); r != nil {
		return r.name
	}
	return ""
}

// Group returns the codes of a group in the policy in force, so placement
// can interpret Replicas' in map; nil when name is a code or unknown.
func (e *Engine) Group(name string) []string {
	p := e.cur.Load()
	if p == nil {
		return nil
	}
	return append([]string(nil), p.Jurisdictions[name]...)
}

// Covers reports whether a key of Replicas' in map (an ISO code or a group of
// the policy in force) covers jurisdiction code.
func (e *Engine) Covers(key, code string) bool {
	if key == code {
		return ValidJurisdiction(code)
	}
	p := e.cur.Load()
	return p != nil && slices.Contains(p.Jurisdictions[key], code)
}
