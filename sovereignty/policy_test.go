package sovereignty

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// issue5Policy is the example of issue 5, verbatim.
const issue5Policy = `jurisdictions:
  EU: [AT, BE, BG, CY, CZ, DE, DK, EE, ES, FI, FR, GR, HR, HU, IE, IT, LT, LU, LV, MT, NL, PL, PT, RO, SE, SI, SK]
repos:
  - match: "acme/*"            # glob over ORG/NAME
    hold: [DE]                 # jurisdictions (or groups) whose nodes may hold replicas
    receive: [DE]              # may receive blocks or files
    prompts: [EU]              # may process prompts for this repo's models (see edge inference)
    export_bundles: false
    replicas: {min: 2, max: 3}
  - match: "*"
    hold: [EU]
    receive: [EU]
`

func member(j string) *Member { return &Member{PeerID: peerA, Org: "acme", Jurisdiction: j} }

func engineWith(t testing.TB, doc string) (*Engine, ed25519.PrivateKey) {
	t.Helper()
	k := newKey(t)
	tr, _ := NewTrust(OrgPublicKey(k))
	e := NewEngine(tr, nil)
	signed, err := SignPolicy(k, []byte(doc), 1)
	if err != nil {
		t.Fatalf("SignPolicy: %v", err)
	}
	if _, err := e.Set(signed); err != nil {
		t.Fatalf("Set: %v", err)
	}
	return e, k
}

func TestDecideIssue5(t *testing.T) {
	e, _ := engineWith(t, issue5Policy)
	tests := []struct {
		a      Action
		repo   string
		j      string
		allow  bool
		rule   string
		reason string
	}{
		{Hold, "acme/llama", "DE", true, "repos[0] acme/*", "jurisdiction DE in hold [DE]"},
		{Hold, "acme/llama", "FR", false, "repos[0] acme/*", "jurisdiction FR not in hold [DE]"},
		{Receive, "acme/llama", "DE", true, "repos[0] acme/*", "jurisdiction DE in receive [DE]"},
		{Receive, "acme/llama", "FR", false, "repos[0] acme/*", "jurisdiction FR not in receive [DE]"},
		{Receive, "acme/llama", "US", false, "repos[0] acme/*", "jurisdiction US not in receive [DE]"},
		{Prompts, "acme/llama", "FR", true, "repos[0] acme/*", "jurisdiction FR in prompts [EU]"},
		{Prompts, "acme/llama", "US", false, "repos[0] acme/*", "jurisdiction US not in prompts [EU]"},
		{ExportBundle, "acme/llama", "DE", false, "repos[0] acme/*", "export_bundles: false"},
		{Receive, "other/bert", "FR", true, "repos[1] *", "jurisdiction FR in receive [EU]"},
		{Hold, "other/bert", "IT", true, "repos[1] *", "jurisdiction IT in hold [EU]"},
		{Receive, "other/bert", "GB", false, "repos[1] *", "jurisdiction GB not in receive [EU]"},
		{Prompts, "other/bert", "DE", false, "repos[1] *", "jurisdiction DE not in prompts []"},
		{Receive, "acme", "FR", true, "repos[1] *", "jurisdiction FR in receive [EU]"},
		{Receive, "acme/llama", "XX", false, "repos[0] acme/*", reasonBadCode},
		{Receive, "acme/llama", "de", false, "repos[0] acme/*", reasonBadCode},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v %s %s", tc.a, tc.repo, tc.j), func(t *testing.T) {
			d := e.Decide(tc.a, tc.repo, member(tc.j))
			want := Decision{tc.allow, tc.rule, tc.reason}
			if d != want {
				t.Errorf("Decide = %+v, want %+v", d, want)
			}
		})
	}
	p, _ := ParsePolicy([]byte(issue5Policy))
	if d := p.Decide(Receive, "acme/llama@main", member("FR")); d.Allow || d.Rule != "repos[0] acme/*" {
		t.Errorf("unsigned Policy.Decide = %+v, want deny by repos[0]", d)
	}
	if d := e.Decide(Receive, "acme/llama", nil); d.Allow {
		t.Errorf("Decide(nil member) = %+v, want deny", d)
	}
	min, max, in := e.Replicas("acme/llama")
	if min != 2 || max != 3 || in != nil {
		t.Errorf("Replicas(acme/llama) = %d, %d, %v, want 2, 3, nil", min, max, in)
	}
	if min, max, _ := e.Replicas("x/y"); min != 0 || max != 0 {
		t.Errorf("Replicas(x/y) = %d, %d, want 0, 0", min, max)
	}
}

func TestDecideDefaultAndNoMatch(t *testing.T) {
	tr, _ := NewTrust()
	e := NewEngine(tr, nil)
	if d := e.Decide(Receive, "acme/x", member("FR")); !d.Allow || d.Rule != "default" {
		t.Errorf("no policy: Decide = %+v, want allow by default", d)
	}
	if d := e.Decide(Receive, "acme/x", nil); d.Allow {
		t.Errorf("no policy, nil member: Decide = %+v, want deny", d)
	}
	e2, _ := engineWith(t, "repos:\n  - match: acme/*\n    hold: [DE]\n    receive: ['*']\n    export_bundles: true\n    replicas: {min: 1, max: 2, in: {DE: 1}}\n")
	tests := []struct {
		a     Action
		repo  string
		j     string
		allow bool
	}{
		{Receive, "other/x", "DE", false},
		{Receive, "acme/x", "US", true},
		{Hold, "acme/x", "US", false},
		{ExportBundle, "acme/x", "", true},
		{ExportBundle, "other/x", "", false},
	}
	for _, tc := range tests {
		if d := e2.Decide(tc.a, tc.repo, member(tc.j)); d.Allow != tc.allow {
			t.Errorf("Decide(%v, %s, %s) = %+v, want allow=%v", tc.a, tc.repo, tc.j, d, tc.allow)
		}
	}
	if _, _, in := e2.Replicas("acme/x"); in["DE"] != 1 {
		t.Errorf("Replicas in = %v, want DE:1", in)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"*", "a/b", true},
		{"acme/*", "acme/x", true},
		{"acme/*", "acmex/x", false},
		{"acme/llama", "acme/llama", true},
		{"acme/llama", "acme/llama2", false},
		{"*-gguf", "acme/x-gguf", true},
		{"*-gguf", "acme/x-gguf2", false},
		{"acme/*-7b*", "acme/llama-7b-chat", true},
		{"acme/*-7b*", "acme/llama-13b", false},
		{"a?me/*", "acme/x", true},
		{"a?me/*", "ame/x", false},
		{"*a*b*c", "xaxbxc", true},
		{"*a*b*c", "xaxbxcx", false},
	}
	for _, tc := range tests {
		g, err := compileGlob(tc.p)
		if err != nil {
			t.Fatalf("compileGlob(%q): %v", tc.p, err)
		}
		if got := g.match(tc.s); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

func TestInvalidPolicies(t *testing.T) {
	rule := "repos:\n  - match: acme/*\n    hold: [DE]\n    receive: [DE]\n"
	tests := []struct {
		name, doc string
		want      []string // substrings the error must contain
	}{
		{"empty", "", []string{"empty document"}},
		{"no rules", "jurisdictions:\n  EU: [DE]\n", []string{"repos: at least one rule"}},
		{"unknown top key", rule + "extra: 1\n", []string{"extra"}},
		{"unknown rule key", "repos:\n  - match: a/*\n    hodl: [DE]\n", []string{"hodl"}},
		{"unknown code", "repos:\n  - match: a/*\n    receive: [DE, XX]\n", []string{"repos[0].receive[1]", `"XX"`}},
		{"unknown group", "repos:\n  - match: a/*\n    prompts: [NORDICS]\n", []string{"repos[0].prompts[0]", "NORDICS"}},
		{"group code clash", "jurisdictions:\n  DE: [FR]\n" + rule, []string{"jurisdictions.DE", "ISO 3166 code"}},
		{"bad code in group", "jurisdictions:\n  EU: [DE, Fr]\n" + rule, []string{"jurisdictions.EU[1]"}},
		{"empty group", "jurisdictions:\n  EU: []\n" + rule, []string{"jurisdictions.EU", "empty"}},
		{"bad glob", "repos:\n  - match: 'acme/[ab]'\n", []string{"repos[0].match", "not allowed"}},
		{"too many stars", "repos:\n  - match: 'a*b*c*d*e*f*g*h*i*j'\n", []string{"repos[0].match", "wildcards"}},
		{"empty glob", "repos:\n  - hold: []\n", []string{"repos[0].match", "empty pattern"}},
		{"min > max", "repos:\n  - match: a/*\n    hold: [DE]\n    receive: [DE]\n    replicas: {min: 3, max: 2}\n", []string{"repos[0].replicas", "min 3 > max 2"}},
		{"min 0", "repos:\n  - match: a/*\n    hold: [DE]\n    receive: [DE]\n    replicas: {min: 0}\n", []string{"repos[0].replicas.min"}},
		{"in outside hold", "repos:\n  - match: a/*\n    hold: [DE]\n    receive: [DE]\n    replicas: {min: 1, in: {FR: 1}}\n", []string{"repos[0].replicas.in.FR", "not in hold"}},
		{"in over max", "repos:\n  - match: a/*\n    hold: [DE, FR]\n    receive: [DE, FR]\n    replicas: {min: 1, max: 2, in: {FR: 2, DE: 1}}\n", []string{"repos[0].replicas.in", "more than max"}},
		{"hold outside receive", "repos:\n  - match: a/*\n    hold: [DE, FR]\n    receive: [DE]\n", []string{"repos[0].hold", "FR"}},
		{"replicas without hold", "repos:\n  - match: a/*\n    replicas: {min: 1}\n", []string{"repos[0].replicas", "hold"}},
		{"unreachable after *", "repos:\n  - match: '*'\n  - match: a/*\n", []string{"repos[1].match", "unreachable"}},
		{"duplicate pattern", "repos:\n  - match: a/*\n  - match: a/*\n", []string{"repos[1].match", "repos[0]"}},
		{"scalar list", "repos:\n  - match: a/*\n    hold: DE\n", []string{"repos[0]", "line 3"}},
		{"two documents", rule + "---\n" + rule, []string{"more than one"}},
		{"duplicate key", "repos:\n  - match: a/*\n    match: b/*\n", []string{"match"}},
		{"bad scan mode", "repos:\n  - match: a/*\n  - match: b/*\n    scan: strict\n", []string{"repos[1].scan", `"strict"`, "block-unknown"}},
		{"unknown licence", "repos:\n  - match: a/*\n    licenses: [apache-2.0, apache2.0]\n", []string{"repos[0].licenses[1]", `"apache2.0"`}},
		{"repeated licence", "repos:\n  - match: a/*\n    licenses: [Apache-2.0, apache-2.0]\n", []string{"repos[0].licenses[1]", "repeats"}},
		{"licenses scalar", "repos:\n  - match: a/*\n    licenses: mit\n", []string{"repos[0]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tc.doc))
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("ParsePolicy = %v, %v, want ErrInvalidPolicy", p, err)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
	if _, err := ParsePolicy([]byte(issue5Policy)); err != nil {
		t.Errorf("ParsePolicy(issue 5 example) = %v", err)
	}
	if _, err := ParsePolicy(bytes.Repeat([]byte("#"), MaxPolicySize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ParsePolicy(huge) = %v, want ErrTooLarge", err)
	}
}

func TestPolicyReplacement(t *testing.T) {
	k := newKey(t)
	other := newKey(t)
	tr, _ := NewTrust(OrgPublicKey(k))
	dir := t.TempDir()
	audit, err := OpenAudit(dir + "/audit.log")
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	e := NewEngine(tr, audit)
	sign := func(key ed25519.PrivateKey, doc string, v uint64) []byte {
		b, err := SignPolicy(key, []byte(doc), v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	deOnly := "repos:\n  - match: '*'\n    hold: [DE]\n    receive: [DE]\n"
	frOnly := "repos:\n  - match: '*'\n    hold: [FR]\n    receive: [FR]\n"
	v2 := sign(k, deOnly, 2)
	// An invalid payload signed correctly: build it by hand, as SignPolicy refuses it.
	bad := []byte("repos:\n  - match: '*'\n    receive: [XX]\n")
	badSigned := []byte(policyHeader + "\n")
	badSigned = appendField(badSigned, "org-key", FormatOrgPublicKey(OrgPublicKey(k)))
	badSigned = appendField(badSigned, "version", "5")
	badSigned = appendField(badSigned, "size", fmt.Sprint(len(bad)))
	badSigned = appendField(badSigned, "signature", b64.EncodeToString(ed25519.Sign(k, policySignedPart(OrgPublicKey(k), 5, bad))))
	badSigned = append(badSigned, bad...)
	tampered := bytes.Replace(sign(k, frOnly, 6), []byte("[FR]\n    receive"), []byte("[FR]\n    receivf"), 1)
	unsigned := []byte(frOnly)

	steps := []struct {
		name string
		in   []byte
		want error
	}{
		{"first v2", v2, nil},
		{"same v2 again", v2, ErrStale},
		{"older v1", sign(k, frOnly, 1), ErrStale},
		{"untrusted v9", sign(other, frOnly, 9), ErrUntrustedOrg},
		{"invalid v5", badSigned, ErrInvalidPolicy},
		{"tampered v6", tampered, ErrBadSignature},
		{"unsigned", unsigned, ErrMalformed},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			_, err := e.Set(s.in)
			if !errors.Is(err, s.want) {
				t.Fatalf("Set = %v, want %v", err, s.want)
			}
			if d := e.Decide(Receive, "a/b", member("DE")); !d.Allow {
				t.Errorf("after %s: DE denied (%v), want the v2 policy in force", s.name, d)
			}
			if d := e.Decide(Receive, "a/b", member("FR")); d.Allow {
				t.Errorf("after %s: FR allowed (%v), want the v2 policy in force", s.name, d)
			}
			if p := e.Policy(); p.Version != 2 {
				t.Errorf("version in force = %d, want 2", p.Version)
			}
		})
	}
	if _, err := e.Set(sign(k, frOnly, 3)); err != nil {
		t.Fatalf("Set(v3) = %v", err)
	}
	if d := e.Decide(Receive, "a/b", member("FR")); !d.Allow {
		t.Errorf("after v3: FR denied (%v)", d)
	}
	if !bytes.Equal(e.Signed(), sign(k, frOnly, 3)) {
		t.Errorf("Signed() is not the v3 envelope")
	}
	entries, err := Tail(dir+"/audit.log", 10)
	if err != nil || len(entries) != 2 || entries[0].Kind != KindPolicy || !strings.Contains(entries[1].Reason, "replacing version 2") {
		t.Errorf("audit = %+v, %v, want two policy entries", entries, err)
	}
}

func TestSignedPolicyEnvelope(t *testing.T) {
	k := newKey(t)
	signed, err := SignPolicy(k, []byte(issue5Policy), 7)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := NewTrust(OrgPublicKey(k))
	p, err := VerifyPolicy(tr, signed)
	if err != nil || p.Version != 7 || len(p.Rules) != 2 || !bytes.Equal(p.Source, []byte(issue5Policy)) {
		t.Fatalf("VerifyPolicy = %+v, %v", p, err)
	}
	if !bytes.HasSuffix(signed, []byte(issue5Policy)) {
		t.Errorf("envelope does not end with the readable YAML")
	}
	s := string(signed)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"trailing byte", s + "\n", ErrMalformed},
		{"truncated", s[:len(s)-1], ErrMalformed},
		{"version 0", strings.Replace(s, "version: 7", "version: 0", 1), ErrBadField},
		{"version 07", strings.Replace(s, "version: 7", "version: 07", 1), ErrBadField},
		{"version bumped", strings.Replace(s, "version: 7", "version: 8", 1), ErrBadSignature},
		{"unknown field", strings.Replace(s, "size:", "sise:", 1), ErrUnknownField},
		{"header only", "cairn-policy-v1\n", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := VerifyPolicy(tr, []byte(tc.in)); !errors.Is(err, tc.want) {
				t.Errorf("VerifyPolicy = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := SignPolicy(k, []byte("repos: []\n"), 1); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("SignPolicy(invalid) = %v, want ErrInvalidPolicy", err)
	}
	if _, err := SignPolicy(k, []byte(issue5Policy), 0); !errors.Is(err, ErrBadField) {
		t.Errorf("SignPolicy(version 0) = %v, want ErrBadField", err)
	}
}

func TestDecideAllocs(t *testing.T) {
	e, _ := engineWith(t, issue5Policy)
	m := member("FR")
	e.Decide(Receive, "acme/llama", m) // builds the reason once
	if n := testing.AllocsPerRun(100, func() { e.Decide(Receive, "acme/llama", m) }); n != 0 {
		t.Errorf("Decide allocs = %v, want 0", n)
	}
	e2, _ := engineWith(t, "repos:\n  - match: a/*\n    receive: [DE, 'region:r1']\n")
	m2 := &Member{Jurisdiction: "FR", Region: "r1"}
	if n := testing.AllocsPerRun(100, func() { e2.Decide(Receive, "a/b@main", m2) }); n != 0 {
		t.Errorf("Decide allocs (region grant) = %v, want 0", n)
	}
}

// TestRuleIndexOrder checks that the first-byte index keeps first-match-wins
// order, comparing with a linear scan.
func TestRuleIndexOrder(t *testing.T) {
	doc := "repos:\n"
	for _, m := range []string{"ab/*", "*-x", "a*", "b/c", "?b/*", "*/z", "bb*"} {
		doc += fmt.Sprintf("  - match: %q\n    receive: [DE]\n", m)
	}
	p, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ab/q-x": "repos[0] ab/*", "aq-x": "repos[1] *-x", "aq": "repos[2] a*", "b/c": "repos[3] b/c", "bb/z": "repos[4] ?b/*", "cc/z": "repos[5] */z", "bbq": "repos[6] bb*", "zz": "", "": ""}
	for repo, w := range want {
		var linear string
		for _, r := range p.rules {
			if r.g.match(repo) {
				linear = r.name
				break
			}
		}
		got := ""
		if r := p.match(repo); r != nil {
			got = r.name
		}
		if got != w || linear != w {
			t.Errorf("match(%q) = %q (linear %q), want %q", repo, got, linear, w)
		}
	}
}

// TestConcurrentSetDecide runs decisions while policies and revocation lists
// change; run with -race.
func TestConcurrentSetDecide(t *testing.T) {
	e, k := engineWith(t, issue5Policy)
	tr := e.trust
	cert := issue(t, k, baseCert())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := uint64(2); v < 20; v++ {
			s, _ := SignPolicy(k, []byte(issue5Policy), v)
			if _, err := e.Set(s); err != nil {
				t.Error(err)
			}
			rl, _ := SignRevocations(k, Revocations{Org: "acme", Version: v, Serials: []string{fmt.Sprint(v)}, Issued: t0})
			if err := tr.AddRevocations(rl); err != nil {
				t.Error(err)
			}
		}
	}()
	for i := 0; i < 2000; i++ {
		if d := e.Decide(Receive, "acme/x", member("FR")); d.Allow {
			t.Fatalf("Decide = %v, want deny", d)
		}
		if i%100 == 0 {
			if _, err := tr.VerifyBytes(cert, peerA, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	<-done
	if v := e.Policy().Version; v != 19 {
		t.Errorf("version = %d, want 19", v)
	}
}

func TestRegionsAndCovers(t *testing.T) {
	e, _ := engineWith(t, `jurisdictions:
  DACH: [DE, AT, CH]
repos:
  - match: "acme/*"
    hold: [DE, "region:paris-dc1"]
    receive: [DACH, "region:paris-dc1", "region:lyon"]
    replicas: {min: 2, max: 3, in: {DE: 1}}
`)
	fr := func(region string) *Member { m := member("FR"); m.Region = region; return m }
	tests := []struct {
		a      Action
		m      *Member
		allow  bool
		reason string
	}{
		{Hold, fr("paris-dc1"), true, "region paris-dc1 in hold [DE, region:paris-dc1]"},
		{Hold, fr("lyon"), false, "jurisdiction FR not in hold [DE, region:paris-dc1]"},
		{Receive, fr("lyon"), true, "region lyon in receive [DACH, region:paris-dc1, region:lyon]"},
		{Receive, fr("nice"), false, "jurisdiction FR not in receive [DACH, region:paris-dc1, region:lyon]"},
		{Receive, member("AT"), true, "jurisdiction AT in receive [DACH, region:paris-dc1, region:lyon]"},
	}
	for _, tc := range tests {
		d := e.Decide(tc.a, "acme/m", tc.m)
		if d.Allow != tc.allow || d.Reason != tc.reason {
			t.Errorf("Decide(%v, %s/%s) = %+v, want allow=%v %q", tc.a, tc.m.Jurisdiction, tc.m.Region, d, tc.allow, tc.reason)
		}
	}
	covers := []struct {
		key, code string
		want      bool
	}{{"DE", "DE", true}, {"DACH", "AT", true}, {"DACH", "FR", false}, {"XX", "XX", false}, {"EU", "DE", false}}
	for _, c := range covers {
		if got := e.Covers(c.key, c.code); got != c.want {
			t.Errorf("Covers(%s, %s) = %v, want %v", c.key, c.code, got, c.want)
		}
	}
	for _, doc := range []string{
		"repos:\n  - match: a/*\n    hold: ['region:x']\n    receive: [DE]\n",
		"repos:\n  - match: a/*\n    receive: ['region:']\n",
		"repos:\n  - match: a/*\n    receive: ['region:a b']\n",
	} {
		if _, err := ParsePolicy([]byte(doc)); !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "repos[0]") {
			t.Errorf("ParsePolicy(%q) = %v, want ErrInvalidPolicy naming repos[0]", doc, err)
		}
	}
}
