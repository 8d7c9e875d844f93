package sovereignty

import (
	"errors"
	"strings"
	"testing"
)

type failingAuditor struct{ n int }

func (f *failingAuditor) Append(Entry) error { f.n++; return errors.New("disk full") }

type memAuditor struct{ entries []Entry }

func (m *memAuditor) Append(e Entry) error { m.entries = append(m.entries, e); return nil }

func TestMayHold(t *testing.T) {
	e, _ := engineWith(t, issue5Policy)
	if err := e.MayHold(member("DE"), "acme/llama"); err != nil {
		t.Errorf("DE may hold acme/llama: %v", err)
	}
	err := e.MayHold(member("FR"), "acme/llama@main")
	var re *RefusedError
	if !errors.As(err, &re) || !errors.Is(err, ErrPolicyRefused) || re.Decision.Rule != "repos[0] acme/*" {
		t.Fatalf("FR MayHold = %v", err)
	}
	if want := "policy: this node (FR) may not hold acme/llama@main: deny by repos[0] acme/*: jurisdiction FR not in hold [DE]"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if err := e.MayHold(nil, "acme/llama"); !errors.Is(err, ErrPolicyRefused) || !strings.Contains(err.Error(), "no membership certificate") {
		t.Errorf("no certificate under a policy: %v", err)
	}
	var none *Engine
	if err := none.MayHold(nil, "acme/llama"); err != nil {
		t.Errorf("nil engine: %v", err)
	}
	if err := NewEngine(nil, nil).MayHold(nil, "acme/llama"); err != nil {
		t.Errorf("no policy in force: %v", err)
	}
}

func TestImportGate(t *testing.T) {
	e, _ := engineWith(t, issue5Policy)
	m := member("FR")
	var log memAuditor
	g := &ImportGate{Engine: e, Self: m, Audit: &log, Via: "bundle import"}
	if err := g.MayImport("acme/llama"); !errors.Is(err, ErrPolicyRefused) {
		t.Fatalf("MayImport = %v", err)
	}
	if err := g.MayImport("other/x"); err != nil {
		t.Fatalf("MayImport(allowed) = %v", err)
	}
	g.Force = true
	if err := g.MayImport("acme/llama"); err != nil {
		t.Fatalf("forced MayImport = %v", err)
	}
	if len(log.entries) != 2 || log.entries[0].Kind != KindDeny || log.entries[1].Kind != KindOverride ||
		log.entries[1].Subject != "hold: import via bundle import" || !strings.HasPrefix(log.entries[1].Reason, "operator override of: policy:") {
		t.Errorf("entries = %+v", log.entries)
	}
	// An override that cannot be recorded does not happen.
	for _, a := range []Auditor{nil, &failingAuditor{}} {
		g := &ImportGate{Engine: e, Self: m, Audit: a, Force: true}
		if err := g.MayImport("acme/llama"); !errors.Is(err, ErrPolicyRefused) {
			t.Errorf("override with audit %T = %v, want refused", a, err)
		}
	}
}
