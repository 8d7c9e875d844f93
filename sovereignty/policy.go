package sovereignty

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"gopkg.in/yaml.v3"
)

// Action is what a decision is about.
type Action int

const (
	// Hold: may the member's node keep replicas of the repo?
	Hold Action = iota
	// Receive: may the member's node be sent blocks, files or manifests of the repo?
	Receive
	// Prompts: may the member's node process prompts for the repo's models?
	Prompts
	// ExportBundle: may the repo be exported as a bundle (CAR) at all?
	ExportBundle
	numActions
)

var actionNames = [numActions]string{"hold", "receive", "prompts", "export_bundles"}

func (a Action) String() string {
	if a < 0 || a >= numActions {
		return fmt.Sprintf("Action(%d)", int(a))
	}
	return actionNames[a]
}

// ParseAction maps "hold", "receive", "prompts" and "export_bundles" (or
// "export") to an Action.
func ParseAction(s string) (Action, error) {
	if s == "export" {
		return ExportBundle, nil
	}
	if i := slices.Index(actionNames[:], s); i >= 0 {
		return Action(i), nil
	}
	return 0, fmt.Errorf("action %q: want one of %s", s, strings.Join(actionNames[:], ", "))
}

// MaxPolicySize bounds a policy document (YAML) and its signed envelope.
const MaxPolicySize = 1 << 20

const maxRules = 10000

// regionPrefix marks a region (a certificate's region field) in a rule's
// lists, e.g. "region:paris-dc1", next to codes and groups.
const regionPrefix = "region:"

// Policy is a validated residency policy. Version and OrgKey are set when it
// came from a signed envelope (VerifyPolicy) and zero for ParsePolicy.
type Policy struct {
	Version       uint64
	OrgKey        ed25519.PublicKey
	Jurisdictions map[string][]string // group name -> ISO codes
	Rules         []Rule
	Source        []byte // the YAML document as signed

	rules []*crule
	// byFirst[c] lists, in order, the rules that can match a repo starting
	// with byte c: those whose literal prefix starts with c and those with no
	// literal prefix (wild). A nil entry means only wild rules can match.
	byFirst [256][]*crule
	wild    []*crule
}

// Rule is one entry of the policy's repos list. A list holds ISO codes,
// group names, "region:NAME" (nodes whose certificate names that region,
// whatever their jurisdiction) or "*" (every jurisdiction); a member is
// granted when any entry covers it. A nil or empty list grants nothing.
type Rule struct {
	Match         string   // glob over ORG/NAME
	Hold          []string // codes, groups, "region:NAME" or "*"
	Receive       []string
	Prompts       []string
	ExportBundles bool     // default false
	Replicas      Replicas // zero when the rule does not say
	Scan          ScanMode // what a scan finding does; default ScanBlock
	Licenses      []string // canonical licence ids allowed; empty allows any
}

// Replicas is the replication a rule wants. Zero Min means the rule does not
// say (replication uses its own default).
type Replicas struct {
	Min int
	Max int            // defaults to Min
	In  map[string]int // at least N replicas in a code or group
}

type policyYAML struct {
	Jurisdictions map[string][]string `yaml:"jurisdictions"`
	Repos         []ruleYAML          `yaml:"repos"`
}

type ruleYAML struct {
	Match         string        `yaml:"match"`
	Hold          []string      `yaml:"hold"`
	Receive       []string      `yaml:"receive"`
	Prompts       []string      `yaml:"prompts"`
	ExportBundles bool          `yaml:"export_bundles"`
	Replicas      *replicasYAML `yaml:"replicas"`
	Scan          string        `yaml:"scan"`
	Licenses      []string      `yaml:"licenses"`
}

type replicasYAML struct {
	Min *int           `yaml:"min"`
	Max *int           `yaml:"max"`
	In  map[string]int `yaml:"in"`
}

func policyErr(format string, a ...any) error {
	return fmt.Errorf("policy: "+format+": %w", append(a, ErrInvalidPolicy)...)
}

// ParsePolicy decodes and validates a policy document. Unknown keys,
// unknown jurisdiction codes or groups, bad globs, unreachable rules,
// min > max and contradictions (hold outside receive, replicas.in outside
// hold) are rejected with an error naming the rule index and field and
// wrapping ErrInvalidPolicy.
func ParsePolicy(doc []byte) (*Policy, error) {
	y, err := decodePolicy(doc)
	if err != nil {
		return nil, err
	}
	p := &Policy{Jurisdictions: map[string][]string{}, Source: bytes.Clone(doc)}
	groups, err := parseGroups(y.Jurisdictions, p.Jurisdictions)
	if err != nil {
		return nil, err
	}
	if len(y.Repos) == 0 {
		return nil, policyErr("repos: at least one rule is needed")
	}
	if len(y.Repos) > maxRules {
		return nil, policyErr("repos: %d rules, limit %d", len(y.Repos), maxRules)
	}
	reach := reachability{seen: map[string]int{}, catchAll: -1}
	for i, ry := range y.Repos {
		r, cr, err := compileRule(i, ry, groups, &reach)
		if err != nil {
			return nil, err
		}
		p.Rules = append(p.Rules, r)
		p.rules = append(p.rules, cr)
	}
	p.index()
	return p, nil
}

// decodePolicy decodes exactly one YAML document strictly (unknown keys are
// errors) within the size limit.
func decodePolicy(doc []byte) (policyYAML, error) {
	var y policyYAML
	if len(doc) > MaxPolicySize {
		return y, fmt.Errorf("policy: %d bytes, limit %d: %w", len(doc), MaxPolicySize, ErrTooLarge)
	}
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&y); err != nil {
		if errors.Is(err, io.EOF) {
			return y, policyErr("empty document")
		}
		return y, policyErr("%s%v", locate(doc, err), err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return y, policyErr("more than one YAML document")
	}
	return y, nil
}

// parseGroups validates the jurisdictions section, copies it into out and
// returns each group as a bit set.
func parseGroups(in map[string][]string, out map[string][]string) (map[string]jset, error) {
	groups := map[string]jset{}
	for _, name := range slices.Sorted(maps.Keys(in)) {
		codes := in[name]
		if !groupName(name) {
			return nil, policyErr("jurisdictions.%s: group name must be a letter then up to 31 of [A-Za-z0-9_-]", trunc(name))
		}
		if ValidJurisdiction(name) {
			return nil, policyErr("jurisdictions.%s: group name is an ISO 3166 code", name)
		}
		if len(codes) == 0 {
			return nil, policyErr("jurisdictions.%s: empty group", name)
		}
		var s jset
		for i, c := range codes {
			if !ValidJurisdiction(c) {
				return nil, policyErr("jurisdictions.%s[%d]: %q is not an ISO 3166-1 alpha-2 code", name, i, trunc(c))
			}
			s.add(codeIndex(c))
		}
		groups[name] = s
		out[name] = slices.Clone(codes)
	}
	return groups, nil
}

// reachability refuses rules that an earlier rule always shadows: one after
// a catch-all, or one repeating an earlier pattern.
type reachability struct {
	seen     map[string]int // pattern -> first rule index
	catchAll int            // index of the first "*" rule; -1 when none
}

func (r *reachability) check(i int, match string, g glob) error {
	at := fmt.Sprintf("repos[%d]", i)
	if r.catchAll >= 0 {
		return policyErr("%s.match %q: unreachable, repos[%d] matches every repo", at, match, r.catchAll)
	}
	if j, ok := r.seen[match]; ok {
		return policyErr("%s.match %q: unreachable, repos[%d] has the same pattern", at, match, j)
	}
	r.seen[match] = i
	if g.kind == globAll {
		r.catchAll = i
	}
	return nil
}

// compileRule validates rule i and compiles it for Decide.
func compileRule(i int, ry ruleYAML, groups map[string]jset, reach *reachability) (Rule, *crule, error) {
	at := fmt.Sprintf("repos[%d]", i)
	r := Rule{Match: ry.Match, Hold: ry.Hold, Receive: ry.Receive, Prompts: ry.Prompts, ExportBundles: ry.ExportBundles}
	g, err := compileGlob(ry.Match)
	if err != nil {
		return r, nil, policyErr("%s.match %q: %v", at, trunc(ry.Match), err)
	}
	if err := reach.check(i, ry.Match, g); err != nil {
		return r, nil, err
	}
	cr := &crule{name: at + " " + ry.Match, g: g, export: ry.ExportBundles}
	for a, list := range [3][]string{ry.Hold, ry.Receive, ry.Prompts} {
		if err := cr.compileList(at, Action(a), list, groups); err != nil {
			return r, nil, err
		}
	}
	if err := cr.holdWithinReceive(at); err != nil {
		return r, nil, err
	}
	if ry.Replicas != nil {
		rep, err := replicas(at, ry.Replicas, groups, &cr.sets[Hold], len(cr.regions[Hold]) > 0)
		if err != nil {
			return r, nil, err
		}
		r.Replicas = rep
	}
	cr.replicas = r.Replicas
	if err := compileGate(at, ry, &r, cr); err != nil {
		return r, nil, err
	}
	cr.exportReason = "export_bundles: false"
	if ry.ExportBundles {
		cr.exportReason = "export_bundles: true"
	}
	return r, cr, nil
}

// compileList turns one of a rule's lists (hold, receive, prompts) into its
// bit set, "*" flag and regions, with the reason strings for regions.
func (cr *crule) compileList(at string, a Action, list []string, groups map[string]jset) error {
	for j, e := range list {
		switch {
		case e == "*":
			cr.all[a] = true
		case strings.HasPrefix(e, regionPrefix):
			name := e[len(regionPrefix):]
			if !token(name, 64) {
				return policyErr("%s.%s[%d]: region name %q: want 1-64 of [A-Za-z0-9._-]", at, a, j, trunc(name))
			}
			if cr.regions[a] == nil {
				cr.regions[a] = map[string]string{}
			}
			cr.regions[a][name] = ""
		case ValidJurisdiction(e):
			cr.sets[a].add(codeIndex(e))
		default:
			gs, ok := groups[e]
			if !ok {
				hint := ""
				if ValidJurisdiction(strings.ToUpper(e)) {
					hint = " (codes are upper case)"
				}
				return policyErr("%s.%s[%d]: %q is neither an ISO 3166-1 alpha-2 code nor a group in jurisdictions%s", at, a, j, trunc(e), hint)
			}
			cr.sets[a].union(&gs)
		}
	}
	if cr.all[a] {
		cr.sets[a] = validCodes
	}
	cr.lists[a] = "[" + strings.Join(list, ", ") + "]"
	for name := range cr.regions[a] {
		cr.regions[a][name] = "region " + name + " in " + a.String() + " " + cr.lists[a]
	}
	return nil
}

// holdWithinReceive refuses a rule that lets a jurisdiction or region hold
// a repo it may not receive.
func (cr *crule) holdWithinReceive(at string) error {
	for name := range cr.regions[Hold] {
		if _, ok := cr.regions[Receive][name]; !ok && !cr.all[Receive] {
			return policyErr("%s.hold: region %s may hold but not receive (hold must be within receive)", at, name)
		}
	}
	if !cr.sets[Hold].subsetOf(&cr.sets[Receive]) {
		return policyErr("%s.hold: %s may hold but not receive (hold must be within receive)", at, firstMissing(&cr.sets[Hold], &cr.sets[Receive]))
	}
	return nil
}

// locate names the rule around the line a YAML error reports ("repos[1]: "),
// so decoding errors name the rule like validation errors do.
func locate(doc []byte, err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return ""
	}
	var line int
	if _, e := fmt.Sscanf(te.Errors[0], "line %d:", &line); e != nil {
		return ""
	}
	var root yaml.Node
	if yaml.Unmarshal(doc, &root) != nil || len(root.Content) == 0 {
		return ""
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "repos" || m.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		at := ""
		for j, item := range m.Content[i+1].Content {
			if item.Line <= line {
				at = fmt.Sprintf("repos[%d]: ", j)
			}
		}
		return at
	}
	return ""
}

func replicas(at string, y *replicasYAML, groups map[string]jset, hold *jset, holdRegions bool) (Replicas, error) {
	var r Replicas
	if y.Min == nil {
		return r, policyErr("%s.replicas.min: missing", at)
	}
	r.Min = *y.Min
	r.Max = r.Min
	if y.Max != nil {
		r.Max = *y.Max
	}
	switch {
	case r.Min < 1 || r.Min > 1000:
		return r, policyErr("%s.replicas.min: %d, want 1..1000", at, r.Min)
	case r.Max < r.Min:
		return r, policyErr("%s.replicas: min %d > max %d", at, r.Min, r.Max)
	case r.Max > 1000:
		return r, policyErr("%s.replicas.max: %d, want at most 1000", at, r.Max)
	case *hold == jset{} && !holdRegions:
		return r, policyErr("%s.replicas: replicas wanted but hold grants no jurisdiction", at)
	}
	sum := 0
	for _, k := range slices.Sorted(maps.Keys(y.In)) {
		n := y.In[k]
		var s jset
		if ValidJurisdiction(k) {
			s.add(codeIndex(k))
		} else if gs, ok := groups[k]; ok {
			s = gs
		} else {
			return r, policyErr("%s.replicas.in.%s: neither an ISO 3166-1 alpha-2 code nor a group in jurisdictions", at, trunc(k))
		}
		if n < 1 {
			return r, policyErr("%s.replicas.in.%s: %d, want at least 1", at, k, n)
		}
		if !s.subsetOf(hold) {
			return r, policyErr("%s.replicas.in.%s: %s is not in hold", at, k, firstMissing(&s, hold))
		}
		sum += n
		if r.In == nil {
			r.In = map[string]int{}
		}
		r.In[k] = n
	}
	if sum > r.Max {
		return r, policyErr("%s.replicas.in: wants %d replicas, more than max %d", at, sum, r.Max)
	}
	return r, nil
}

func firstMissing(a, b *jset) string {
	for i := range 26 * 26 {
		if a.has(i) && !b.has(i) {
			return codeName(i)
		}
	}
	return ""
}

func groupName(s string) bool {
	if len(s) == 0 || len(s) > 32 || !(s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	return token(s, 32) && !strings.ContainsRune(s, '.')
}

// crule is a rule compiled for Decide: glob, jurisdiction bit sets, and
// reason strings built once and cached, so a decision allocates nothing.
type crule struct {
	name         string
	g            glob
	sets         [3]jset
	all          [3]bool
	regions      [3]map[string]string // region name -> reason for allowing it; nil when none listed
	lists        [3]string            // the list as written, for reasons
	export       bool
	exportReason string
	replicas     Replicas
	scan         ScanMode
	licenses     []string // canonical ids; nil allows any
	reasons      [3]atomic.Pointer[[26 * 26]atomic.Pointer[string]]
}

// reason returns "jurisdiction FR not in receive [DE]" (or "in"), built on
// first use for each action and code.
func (r *crule) reason(a Action, ci int, allow bool) string {
	tab := r.reasons[a].Load()
	if tab == nil {
		r.reasons[a].CompareAndSwap(nil, new([26 * 26]atomic.Pointer[string]))
		tab = r.reasons[a].Load()
	}
	if s := tab[ci].Load(); s != nil {
		return *s
	}
	verb := " not in "
	if allow {
		verb = " in "
	}
	s := "jurisdiction " + codeName(ci) + verb + Action(a).String() + " " + r.lists[a]
	tab[ci].Store(&s)
	return s
}

// index builds byFirst, so a decision scans only the rules that can match.
func (p *Policy) index() {
	for _, r := range p.rules {
		if r.g.kind == globAll || r.g.kind == globSuffix || r.g.lit == "" {
			p.wild = append(p.wild, r)
			for c := range p.byFirst {
				if p.byFirst[c] != nil {
					p.byFirst[c] = append(p.byFirst[c], r)
				}
			}
			continue
		}
		c := r.g.lit[0]
		if p.byFirst[c] == nil {
			p.byFirst[c] = append([]*crule(nil), p.wild...)
		}
		p.byFirst[c] = append(p.byFirst[c], r)
	}
}

func (p *Policy) match(repo string) *crule {
	list := p.wild
	if len(repo) > 0 && p.byFirst[repo[0]] != nil {
		list = p.byFirst[repo[0]]
	}
	for _, r := range list {
		if r.g.match(repo) {
			return r
		}
	}
	return nil
}
