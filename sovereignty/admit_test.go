package sovereignty

import (
	"strings"
	"testing"
)

const gatePolicy = `repos:
  - match: acme/strict
    hold: ['*']
    receive: ['*']
    scan: block-unknown
    licenses: [Apache-2.0, mit]
  - match: acme/loose
    hold: ['*']
    receive: ['*']
    scan: warn
  - match: "*"
    hold: ['*']
    receive: ['*']
`

func TestParseGateFields(t *testing.T) {
	p, err := ParsePolicy([]byte(gatePolicy))
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Rules[0]; r.Scan != ScanBlockUnknown || strings.Join(r.Licenses, ",") != "apache-2.0,mit" {
		t.Errorf("rule 0 = scan %v licenses %v", r.Scan, r.Licenses)
	}
	if p.Rules[1].Scan != ScanWarn || p.Rules[2].Scan != ScanBlock || p.Rules[2].Licenses != nil {
		t.Errorf("rules 1, 2 = %+v, %+v", p.Rules[1], p.Rules[2])
	}
	// A policy written before these fields parses as it did: scan block, any licence.
	old, err := ParsePolicy([]byte(issue5Policy))
	if err != nil || old.Rules[0].Scan != ScanBlock || old.Rules[0].Licenses != nil {
		t.Errorf("old policy = %+v, %v", old, err)
	}
}

func TestAdmit(t *testing.T) {
	e, _ := engineWith(t, gatePolicy)
	unsafe := FileFacts{Path: "pytorch_model.bin", Verdict: FileUnsafe, Summary: "import os.system"}
	unknown := FileFacts{Path: "x.pkl", Verdict: FileUnknown, Summary: "import foo.bar"}
	safe := FileFacts{Path: "model.safetensors"}
	tests := []struct {
		repo       string
		facts      RevisionFacts
		quarantine bool
		reasons    []string // substrings of the joined reasons
		warnings   int
	}{
		{"acme/strict", RevisionFacts{Files: []FileFacts{safe}, Licences: []string{"MIT"}}, false, nil, 0},
		{"acme/strict@main", RevisionFacts{Files: []FileFacts{unknown}, Licences: []string{"mit"}}, true, []string{"x.pkl unknown: import foo.bar (scan: block-unknown)"}, 0},
		{"acme/strict", RevisionFacts{Files: []FileFacts{safe}, Licences: []string{"cc-by-nc-4.0"}}, true, []string{"licence: cc-by-nc-4.0 not in licenses [apache-2.0, mit]", "repos[0]"}, 0},
		{"acme/strict", RevisionFacts{Files: []FileFacts{safe}}, true, []string{"licence: none detected"}, 0},
		{"acme/loose", RevisionFacts{Files: []FileFacts{unsafe, unknown}}, false, nil, 2},
		{"other/x", RevisionFacts{Files: []FileFacts{unsafe, unknown}}, true, []string{"pytorch_model.bin unsafe: import os.system (scan: block)", "repos[2]"}, 1},
		{"other/x", RevisionFacts{Files: []FileFacts{safe}, Licences: []string{"cc-by-nc-4.0"}}, false, nil, 0},
	}
	for i, tc := range tests {
		v := e.Admit(tc.repo, tc.facts)
		got := v.Rule + ": " + strings.Join(v.Reasons, "; ")
		if v.Quarantine != tc.quarantine || len(v.Warnings) != tc.warnings {
			t.Errorf("%d: Admit(%s) = %+v", i, tc.repo, v)
		}
		for _, s := range tc.reasons {
			if !strings.Contains(got, s) {
				t.Errorf("%d: %q does not name %q", i, got, s)
			}
		}
	}
	// No policy: defaults (block unsafe, any licence).
	var none *Engine
	if v := none.Admit("a/b", RevisionFacts{Files: []FileFacts{unsafe}}); !v.Quarantine || v.Rule != "default" {
		t.Errorf("Admit without engine = %+v", v)
	}
	if v := NewEngine(nil, nil).Admit("a/b", RevisionFacts{Files: []FileFacts{unknown}, Licences: []string{"cc-by-nc-4.0"}}); v.Quarantine {
		t.Errorf("Admit without policy = %+v", v)
	}
}
