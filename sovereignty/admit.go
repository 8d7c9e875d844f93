package sovereignty

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cairnhub/cairn/licence"
)

// ScanMode is what a rule does with a revision's scan results.
type ScanMode int

const (
	// ScanBlock quarantines a revision holding an unsafe file (the default).
	ScanBlock ScanMode = iota
	// ScanBlockUnknown quarantines unsafe and unknown files.
	ScanBlockUnknown
	// ScanWarn quarantines nothing; findings are recorded as warnings.
	ScanWarn
)

var scanModes = []string{"block", "block-unknown", "warn"}

func (m ScanMode) String() string {
	if m < 0 || int(m) >= len(scanModes) {
		return fmt.Sprintf("ScanMode(%d)", int(m))
	}
	return scanModes[m]
}

// ParseScanMode maps "block", "block-unknown" and "warn" to a ScanMode;
// "" is ScanBlock.
func ParseScanMode(s string) (ScanMode, error) {
	if s == "" {
		return ScanBlock, nil
	}
	if i := slices.Index(scanModes, s); i >= 0 {
		return ScanMode(i), nil
	}
	return 0, fmt.Errorf("scan mode %q: want one of %s", trunc(s), strings.Join(scanModes, ", "))
}

// FileVerdict is a file's scan verdict as the policy sees it (package scan's
// Safe, Unknown, Unsafe).
type FileVerdict int

const (
	FileSafe FileVerdict = iota
	FileUnknown
	FileUnsafe
)

// FileFacts is one file's scan result.
type FileFacts struct {
	Path    string
	Verdict FileVerdict
	Summary string // the finding that decided the verdict, for reasons
}

// RevisionFacts is what Admit decides on: the scan result of each file and
// the licences detected (SPDX ids or Hub names; empty when none was found).
type RevisionFacts struct {
	Files    []FileFacts
	Licences []string
}

// Verdict is the answer of Admit.
type Verdict struct {
	Quarantine bool
	Rule       string   // the deciding rule, or "default"
	Reasons    []string // why the revision is quarantined
	Warnings   []string // findings let through: under scan: warn, or unknown files under block
}

// Admit decides whether a revision of repo that this node may hold is
// served as it is or quarantined (stored, never served, replicated or
// loaded), under the scan and licenses fields of the rule matching repo.
// Without a policy, or when no rule matches, the defaults apply: scan:
// block and any licence.
func (e *Engine) Admit(repo string, f RevisionFacts) Verdict {
	var p *Policy
	if e != nil {
		p = e.cur.Load()
	}
	return p.Admit(repo, f)
}

// Admit is Engine.Admit under p (nil means no policy).
func (p *Policy) Admit(repo string, f RevisionFacts) Verdict {
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo = repo[:i]
	}
	v := Verdict{Rule: ruleDefault}
	mode, allowed := ScanBlock, []string(nil)
	if p != nil {
		if r := p.match(repo); r != nil {
			mode, allowed, v.Rule = r.scan, r.licenses, r.name
		}
	}
	for _, ff := range f.Files {
		if ff.Verdict == FileSafe {
			continue
		}
		what := "unsafe"
		if ff.Verdict == FileUnknown {
			what = "unknown"
		}
		msg := "scan: " + ff.Path + " " + what
		if ff.Summary != "" {
			msg += ": " + ff.Summary
		}
		msg += " (scan: " + mode.String() + ")"
		if mode == ScanWarn || ff.Verdict == FileUnknown && mode == ScanBlock {
			v.Warnings = append(v.Warnings, msg)
			continue
		}
		v.Reasons = append(v.Reasons, msg)
	}
	if len(allowed) > 0 {
		v.Reasons = append(v.Reasons, licenceReasons(allowed, f.Licences)...)
	}
	v.Quarantine = len(v.Reasons) > 0
	return v
}

// licenceReasons names each detected licence outside allowed, or the lack
// of any licence.
func licenceReasons(allowed, found []string) []string {
	list := "[" + strings.Join(allowed, ", ") + "]"
	if len(found) == 0 {
		return []string{"licence: none detected (model card or LICENSE file); licenses allows only " + list}
	}
	var out []string
	for _, l := range found {
		id, _ := licence.Normalize(l)
		if !slices.Contains(allowed, id) {
			out = append(out, "licence: "+id+" not in licenses "+list)
		}
	}
	return out
}

// compileGate validates a rule's scan and licenses fields.
func compileGate(at string, ry ruleYAML, r *Rule, cr *crule) error {
	m, err := ParseScanMode(ry.Scan)
	if err != nil {
		return policyErr("%s.scan: %v", at, err)
	}
	r.Scan, cr.scan = m, m
	for j, l := range ry.Licenses {
		id, ok := licence.Normalize(l)
		if !ok {
			return policyErr("%s.licenses[%d]: %q is neither an SPDX id nor a Hub licence name", at, j, trunc(l))
		}
		if slices.Contains(r.Licenses, id) {
			return policyErr("%s.licenses[%d]: %q repeats %s", at, j, trunc(l), id)
		}
		r.Licenses = append(r.Licenses, id)
	}
	cr.licenses = r.Licenses
	return nil
}
