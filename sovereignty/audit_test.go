package sovereignty

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeAudit(t *testing.T, n int) (string, [][]byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAudit(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := Entry{Kind: KindDeny, Subject: "receive", Peer: peerB, Repo: fmt.Sprintf("acme/m%d", i), Reason: "jurisdiction FR not in receive [DE]"}
		if err := a.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	return p, bytes.SplitAfter(b, []byte("\n"))[:n]
}

func TestAuditChain(t *testing.T) {
	p, lines := writeAudit(t, 5)
	if err := VerifyAudit(p); err != nil {
		t.Fatalf("VerifyAudit(intact) = %v", err)
	}
	// Reopen continues the chain.
	a, err := OpenAudit(p)
	if err != nil {
		t.Fatal(err)
	}
	if seq, _ := a.Head(); seq != 5 {
		t.Errorf("Head seq after reopen = %d, want 5", seq)
	}
	a.Append(Entry{Kind: KindExport, Repo: "acme/x"})
	a.Close()
	if n, _, err := CheckAudit(p); err != nil || n != 6 {
		t.Errorf("CheckAudit after reopen = %d, %v, want 6 entries", n, err)
	}
	join := func(ls ...[]byte) []byte { return bytes.Join(ls, nil) }
	edit := func(i int, old, new string) [][]byte {
		c := slices2(lines)
		c[i] = bytes.Replace(c[i], []byte(old), []byte(new), 1)
		return c
	}
	tests := []struct {
		name string
		data []byte
		line int
	}{
		{"edit reason", join(edit(2, "FR", "DE")...), 3},
		{"edit peer", join(edit(1, peerB, peerA)...), 2},
		{"edit seq", join(edit(3, `"seq":4`, `"seq":40`)...), 4},
		{"edit time", join(edit(0, "\"time\":\"2", "\"time\":\"1")...), 1},
		{"whitespace", join(edit(4, `"kind":`, `"kind": `)...), 5},
		{"delete line", join(lines[0], lines[1], lines[3], lines[4]), 3},
		{"delete first", join(lines[1:]...), 1},
		{"swap lines", join(lines[0], lines[2], lines[1], lines[3], lines[4]), 2},
		{"duplicate line", join(lines[0], lines[1], lines[1], lines[2]), 3},
		{"unknown field", join(edit(2, `{"seq"`, `{"x":1,"seq"`)...), 3},
		{"torn tail", join(lines[0], lines[1][:10]), 2},
		{"recomputed hash but broken prev", join(lines[0], rehash(t, lines[2], 2)), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := filepath.Join(t.TempDir(), "audit.log")
			os.WriteFile(q, tc.data, 0o600)
			err := VerifyAudit(q)
			var ae *AuditError
			if !errors.Is(err, ErrAuditBroken) || !errors.As(err, &ae) {
				t.Fatalf("VerifyAudit = %v, want ErrAuditBroken", err)
			}
			if ae.Line != tc.line {
				t.Errorf("VerifyAudit names line %d (%v), want %d", ae.Line, err, tc.line)
			}
		})
	}
}

func slices2(ls [][]byte) [][]byte {
	c := make([][]byte, len(ls))
	for i, l := range ls {
		c[i] = bytes.Clone(l)
	}
	return c
}

// rehash renumbers a line to seq and fixes its own hash, as a careful forger
// would; the chain through prev still breaks.
func rehash(t *testing.T, line []byte, seq uint64) []byte {
	t.Helper()
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil {
		t.Fatal(err)
	}
	e.Seq = seq
	h, _ := entryHash(e)
	e.Hash = h
	b, _ := json.Marshal(e)
	return append(b, '\n')
}

// TestAuditTornWriteAndTail: a torn last line is cut at open and recorded
// as an entry quoting it, not dropped silently.
func TestAuditTornWriteAndTail(t *testing.T) {
	p, lines := writeAudit(t, 3)
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte(`{"seq":4,"ti`))
	f.Close()
	if got, err := Tail(p, 2); err != nil || len(got) != 2 || got[1].Seq != 3 || got[0].Seq != 2 {
		t.Errorf("Tail(torn, 2) = %+v, %v, want seq 2, 3", got, err)
	}
	a, err := OpenAudit(p)
	if err != nil {
		t.Fatalf("OpenAudit(torn) = %v", err)
	}
	if err := a.Append(Entry{Kind: KindRepair, Repo: "acme/x"}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if n, _, err := CheckAudit(p); err != nil || n != 5 {
		t.Errorf("CheckAudit after torn recovery = %d, %v, want 5 (3, the torn record, the repair)", n, err)
	}
	all, err := Tail(p, 100)
	if err != nil || len(all) != 5 || all[4].Kind != KindRepair || !strings.Contains(string(lines[0]), all[0].Hash) {
		t.Fatalf("Tail(100) = %+v, %v", all, err)
	}
	if torn := all[3]; torn.Kind != KindTorn || !strings.Contains(torn.Reason, `12 bytes`) || !strings.Contains(torn.Reason, `{\"seq\":4,\"ti`) {
		t.Errorf("entry 4 = %+v, want a torn record quoting the cut bytes", torn)
	}
	for _, n := range []int{1, 3, 5, 6} {
		got, err := Tail(p, n)
		want := min(n, 5)
		if err != nil || len(got) != want || got[len(got)-1].Seq != 5 || got[0].Seq != uint64(5-want+1) {
			t.Errorf("Tail(%d) = %d entries, %v", n, len(got), err)
		}
	}
}

func TestAuditConcurrent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAudit(p)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				if err := a.Append(Entry{Kind: KindReplicate, Repo: fmt.Sprintf("o/r%d-%d", g, i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	a.Close()
	if n, _, err := CheckAudit(p); err != nil || n != 40 {
		t.Errorf("CheckAudit = %d, %v, want 40 entries", n, err)
	}
}

func TestDenyEntry(t *testing.T) {
	e, _ := engineWith(t, issue5Policy)
	m := member("FR")
	d := e.Decide(Receive, "acme/llama", m)
	en := DenyEntry(Receive, "acme/llama", m, d)
	if en.Kind != KindDeny || en.Peer != peerA || en.Subject != "receive" || en.Reason != "deny by repos[0] acme/*: jurisdiction FR not in receive [DE]" {
		t.Errorf("DenyEntry = %+v", en)
	}
}

// TestAuditOddText: invalid UTF-8, HTML characters and newlines in fields
// keep the chain verifiable (JSON escapes them the same way every time).
func TestAuditOddText(t *testing.T) {
	p := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAudit(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"bad \xff utf8", "<script>&amp;", "two\nlines", "\u2028 sep"} {
		if err := a.Append(Entry{Kind: KindDeny, Reason: r}); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	if n, _, err := CheckAudit(p); err != nil || n != 4 {
		t.Errorf("CheckAudit = %d, %v, want 4 entries", n, err)
	}
}

func TestDedupAuditor(t *testing.T) {
	p := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAudit(p)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	d := NewDedupAuditor(a, time.Minute)
	now := t0
	d.now = func() time.Time { return now }
	deny := Entry{Kind: KindDeny, Subject: "receive", Peer: peerB, Repo: "acme/x", Reason: "r"}
	for range 100 {
		d.Append(deny)
	}
	other := deny
	other.Repo = "acme/y"
	d.Append(other)
	now = now.Add(2 * time.Minute)
	d.Append(deny)
	got, err := Tail(p, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Repo != "acme/x" || got[1].Repo != "acme/y" || !strings.Contains(got[2].Reason, "99 identical entries suppressed") {
		t.Errorf("entries = %+v, want x, y, x with 99 suppressed", got)
	}
}
