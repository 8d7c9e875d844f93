package sovereignty

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// signedLog writes a log the way a node does: entries, a checkpoint, more
// entries, a checkpoint, one more entry, and Close's final checkpoint. It
// returns the path, the key and the lines (with newlines).
func signedLog(t *testing.T) (string, ed25519.PrivateKey, [][]byte) {
	t.Helper()
	k := newKey(t)
	p := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAuditWith(p, AuditOptions{Signer: KeySigner(k), Node: peerA})
	if err != nil {
		t.Fatal(err)
	}
	add := func(repo string) {
		if err := a.Append(Entry{Kind: KindReplicate, Repo: repo}); err != nil {
			t.Fatal(err)
		}
	}
	add("acme/a")
	add("acme/b")
	if _, err := a.Checkpoint(); err != nil { // line 3
		t.Fatal(err)
	}
	add("acme/c")
	if _, err := a.Checkpoint(); err != nil { // line 5
		t.Fatal(err)
	}
	add("acme/d")
	if err := a.Close(); err != nil { // line 7: final
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	lines := bytes.SplitAfter(b, []byte("\n"))
	return p, k, lines[:len(lines)-1]
}

// rechain recomputes seq, prev and hash of every line from index from on, as
// a forger with write access to the file would after an edit.
func rechain(t *testing.T, lines [][]byte, from int) [][]byte {
	t.Helper()
	out := slices2(lines)
	prev := genesisPrev
	if from > 0 {
		prev = lineHash(bytes.TrimSuffix(out[from-1], []byte("\n")))
	}
	for i := from; i < len(out); i++ {
		var e Entry
		if err := json.Unmarshal(out[i], &e); err != nil {
			t.Fatal(err)
		}
		e.Seq, e.Prev = uint64(i+1), prev
		e.Hash, _ = entryHash(e)
		b, _ := json.Marshal(e)
		out[i] = append(b, '\n')
		prev = lineHash(b)
	}
	return out
}

// forged is an entry chained correctly onto lines.
func forged(t *testing.T, lines [][]byte, e Entry) []byte {
	t.Helper()
	e.Time = t0
	c := rechain(t, append(slices2(lines), mustJSON(t, e)), len(lines))
	return c[len(c)-1]
}

func mustJSON(t *testing.T, e Entry) []byte {
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func writeLines(t *testing.T, p string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(p, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantBroken(t *testing.T, err error, line int, msg string) {
	t.Helper()
	var ae *AuditError
	if !errors.Is(err, ErrAuditBroken) || !errors.As(err, &ae) {
		t.Fatalf("got %v, want ErrAuditBroken", err)
	}
	if ae.Line != line || !strings.Contains(ae.Msg, msg) {
		t.Errorf("got %v, want line %d saying %q", err, line, msg)
	}
}

func TestCheckpointEncoding(t *testing.T) {
	k := newKey(t)
	cp, err := signCheckpoint(KeySigner(k), Checkpoint{Node: peerA, Seq: 9, Head: strings.Repeat("0f", 32), Time: t0.Add(1500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	b := cp.Marshal()
	got, err := ParseCheckpoint(b)
	if err != nil || got.Verify() != nil || got.Seq != 9 || !got.Time.Equal(t0.Add(time.Second)) || got.Final {
		t.Fatalf("ParseCheckpoint = %+v, %v", got, err)
	}
	for _, tc := range []struct{ name, old, new string }{
		{"seq", "seq: 9", "seq: 10"},
		{"final", "final: false", "final: true"},
		{"head", "head: 0f", "head: 1f"},
	} {
		edited := bytes.Replace(b, []byte(tc.old), []byte(tc.new), 1)
		c, err := ParseCheckpoint(edited)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := c.Verify(); !errors.Is(err, ErrBadSignature) {
			t.Errorf("edited %s: Verify = %v, want ErrBadSignature", tc.name, err)
		}
	}
	for _, bad := range [][]byte{
		bytes.Replace(b, []byte("seq: 9"), []byte("seq: 09"), 1),
		bytes.Replace(b, []byte("head: 0f"), []byte("head: 0F"), 1),
		append(bytes.Clone(b), "extra: 1\n"...),
		bytes.Repeat([]byte("x"), MaxCheckpointSize+1),
	} {
		if _, err := ParseCheckpoint(bad); err == nil {
			t.Errorf("ParseCheckpoint accepted %q", bad)
		}
	}
}

func TestAuditCheckpointSessions(t *testing.T) {
	p, k, lines := signedLog(t)
	if len(lines) != 7 {
		t.Fatalf("%d lines, want 7", len(lines))
	}
	r, err := VerifyAuditLog(p, VerifyOptions{Key: OrgPublicKey(k)})
	if err != nil || r.Entries != 7 || r.Checkpoints != 3 || !r.Clean || r.Latest.Seq != 6 || !r.Latest.Final {
		t.Fatalf("VerifyAuditLog = %+v, %v", r, err)
	}
	// Idle: Checkpoint returns the covering one without growing the log;
	// Close of a log already sealed adds nothing.
	a, err := OpenAuditWith(p, AuditOptions{Signer: KeySigner(k), Node: peerA})
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := a.Checkpoint(); err != nil || cp.Seq != 6 || !cp.Final {
		t.Errorf("Checkpoint of a sealed idle log = %+v, %v", cp, err)
	}
	a.Close()
	if n, _, _ := CheckAudit(p); n != 7 {
		t.Errorf("open and close of an idle log wrote %d lines, want none", n-7)
	}
	// A new session opens with a checkpoint before its first entry.
	a, _ = OpenAuditWith(p, AuditOptions{Signer: KeySigner(k), Node: peerA})
	a.Append(Entry{Kind: KindExport, Repo: "acme/e"})
	if seq, _ := a.Head(); seq != 9 {
		t.Errorf("after reopen and one append head seq = %d, want 9 (open checkpoint, entry)", seq)
	}
	// Crash: the file is closed without the final checkpoint.
	a.f.Close()
	a, err = OpenAuditWith(p, AuditOptions{Signer: KeySigner(k), Node: peerA})
	if err != nil {
		t.Fatalf("open after a crash = %v", err)
	}
	a.Close()
	all, _ := Tail(p, 3)
	if all[0].Kind != KindExport || all[1].Kind != KindUnclean || all[2].Kind != KindCheckpoint {
		t.Errorf("tail after crash and reopen = %+v, want export, unclean, final checkpoint", all)
	}
	if r, err := VerifyAuditLog(p, VerifyOptions{Key: OrgPublicKey(k)}); err != nil || !r.Clean {
		t.Errorf("VerifyAuditLog = %+v, %v", r, err)
	}
	// A writer without the key cannot append after a final checkpoint.
	u, err := OpenAudit(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Append(Entry{Kind: KindExport}); !errors.Is(err, ErrAuditSealed) {
		t.Errorf("unsigned Append to a sealed log = %v, want ErrAuditSealed", err)
	}
	if _, err := u.Checkpoint(); !errors.Is(err, ErrNoSigner) {
		t.Errorf("unsigned Checkpoint = %v, want ErrNoSigner", err)
	}
	u.Close()
	if err := (&Audit{}).Append(Entry{Kind: KindCheckpoint}); err == nil {
		t.Error("Append of a checkpoint entry accepted")
	}
}

// TestAuditTamperingCaught: each way of rewriting the log that the chain
// alone cannot show is caught by the checkpoints.
func TestAuditTamperingCaught(t *testing.T) {
	p, k, lines := signedLog(t)
	key := OrgPublicKey(k)
	reopen := func(q string) error {
		a, err := OpenAuditWith(q, AuditOptions{Signer: KeySigner(k), Node: peerA})
		if err == nil {
			a.Close()
		}
		return err
	}
	copyLog := func(t *testing.T, ls [][]byte) string {
		q := filepath.Join(t.TempDir(), "audit.log")
		writeLines(t, q, ls)
		side, err := os.ReadFile(sidecarPath(p))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(sidecarPath(q), side, 0o600)
		return q
	}

	t.Run("truncation below the last checkpoint", func(t *testing.T) {
		q := copyLog(t, lines[:4]) // the checkpoints at lines 5 and 7 are gone
		wantBroken(t, VerifyAudit(q), 5, "tail cut")
		if err := reopen(q); !errors.Is(err, ErrAuditBroken) {
			t.Errorf("open of a cut log = %v, want ErrAuditBroken", err)
		}
	})
	t.Run("forged append after clean shutdown", func(t *testing.T) {
		f := forged(t, lines, Entry{Kind: KindRelease, Repo: "acme/secret"})
		q := copyLog(t, append(slices2(lines), f))
		wantBroken(t, VerifyAudit(q), 8, "after the final checkpoint")
		err := reopen(q)
		wantBroken(t, err, 8, "after the final checkpoint")
		// A refused open leaves the evidence as it was, torn tail included.
		fd, _ := os.OpenFile(q, os.O_WRONLY|os.O_APPEND, 0)
		fd.Write([]byte(`{"seq":9,"kind":"rel`))
		fd.Close()
		before, _ := os.ReadFile(q)
		wantBroken(t, reopen(q), 8, "after the final checkpoint")
		if after, _ := os.ReadFile(q); !bytes.Equal(before, after) {
			t.Errorf("refused open changed the log: %d bytes, was %d", len(after), len(before))
		}
	})
	t.Run("forged append then a signed session", func(t *testing.T) {
		// The node starts again on top of the forged line without noticing
		// (the open check is bypassed by removing the kept checkpoint): the
		// forged line stays visible to every verify.
		f := forged(t, lines, Entry{Kind: KindRelease, Repo: "acme/secret"})
		q := filepath.Join(t.TempDir(), "audit.log")
		writeLines(t, q, append(slices2(lines), f))
		wantBroken(t, VerifyAudit(q), 8, "after the final checkpoint")
	})
	t.Run("rewritten chain", func(t *testing.T) {
		c := slices2(lines)
		c[1] = bytes.Replace(c[1], []byte("acme/b"), []byte("acme/z"), 1)
		q := copyLog(t, rechain(t, c, 1))
		wantBroken(t, VerifyAudit(q), 3, "log rewritten")
		if err := reopen(q); !errors.Is(err, ErrAuditBroken) {
			t.Errorf("open of a rewritten log = %v, want ErrAuditBroken", err)
		}
	})
	t.Run("rewritten chain re-signed with another key", func(t *testing.T) {
		// The forger rebuilds the whole log with his own key and drops the
		// checkpoint kept beside it: only the node's key shows it.
		q := filepath.Join(t.TempDir(), "audit.log")
		a, _ := OpenAuditWith(q, AuditOptions{Signer: KeySigner(newKey(t)), Node: peerA})
		a.Append(Entry{Kind: KindReplicate, Repo: "acme/a"})
		a.Close()
		os.Remove(sidecarPath(q))
		_, err := VerifyAuditLog(q, VerifyOptions{Key: key})
		wantBroken(t, err, 2, "another key")
	})
	t.Run("whole chain recomputed without checkpoints", func(t *testing.T) {
		var c [][]byte
		for _, l := range lines {
			if !bytes.Contains(l, []byte(`"kind":"checkpoint"`)) {
				c = append(c, l)
			}
		}
		q := copyLog(t, rechain(t, c, 0))
		if err := VerifyAudit(q); !errors.Is(err, ErrAuditBroken) {
			t.Errorf("VerifyAudit = %v, want ErrAuditBroken", err)
		}
	})
	t.Run("tail cut after the last local checkpoint", func(t *testing.T) {
		// A crash-like cut (the final checkpoint and the entry before it
		// gone, the kept checkpoint rolled back too) looks like a crash
		// locally; a member holding the final checkpoint shows the cut.
		q := filepath.Join(t.TempDir(), "audit.log")
		writeLines(t, q, lines[:5])
		var e Entry
		json.Unmarshal(lines[4], &e)
		cp5, _ := ParseCheckpoint([]byte(e.Checkpoint))
		writeSidecar(q, cp5)
		if _, err := VerifyAuditLog(q, VerifyOptions{Key: key}); err != nil {
			t.Fatalf("local verify of a crash-like cut = %v (nothing local shows it)", err)
		}
		json.Unmarshal(lines[6], &e)
		final, _ := ParseCheckpoint([]byte(e.Checkpoint))
		_, err := VerifyAuditLog(q, VerifyOptions{Key: key, Peers: []Checkpoint{*cp5, *final}})
		wantBroken(t, err, 6, "member checkpoint 2 covers seq 6 (tail cut)")
	})
	t.Run("member checkpoint of another history", func(t *testing.T) {
		other, err := signCheckpoint(KeySigner(k), Checkpoint{Node: peerA, Seq: 2, Head: strings.Repeat("ab", 32), Time: t0})
		if err != nil {
			t.Fatal(err)
		}
		_, err = VerifyAuditLog(p, VerifyOptions{Key: key, Peers: []Checkpoint{other}})
		wantBroken(t, err, 2, "log rewritten")
		stranger, _ := signCheckpoint(KeySigner(newKey(t)), Checkpoint{Node: peerA, Seq: 2, Head: strings.Repeat("ab", 32), Time: t0})
		if _, err := VerifyAuditLog(p, VerifyOptions{Key: key, Peers: []Checkpoint{stranger}}); !errors.Is(err, ErrBadSignature) {
			t.Errorf("member checkpoint signed by another key: %v, want ErrBadSignature", err)
		}
	})
}

func TestRunCheckpoints(t *testing.T) {
	k := newKey(t)
	p := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAuditWith(p, AuditOptions{Signer: KeySigner(k), Node: peerA})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := (&Audit{}).RunCheckpoints(t.Context(), time.Millisecond); !errors.Is(err, ErrNoSigner) {
		t.Errorf("RunCheckpoints without a signer = %v", err)
	}
	a.Append(Entry{Kind: KindExport, Repo: "acme/x"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.RunCheckpoints(ctx, time.Millisecond) }()
	// Wait (bounded) for the loop to checkpoint the appended entry.
	for i := 0; i < 10000; i++ {
		if cp, ok := a.Latest(); ok && cp.Seq == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunCheckpoints = %v", err)
	}
	if cp, ok := a.Latest(); !ok || cp.Seq != 1 || cp.Final {
		t.Fatalf("Latest = %+v, %v, want the checkpoint of seq 1", cp, ok)
	}
	if seq, _ := a.Head(); seq != 2 {
		t.Errorf("idle ticks grew the log to %d entries, want 2", seq)
	}
	if r, err := a.Verify(); err != nil || r.Checkpoints != 1 {
		t.Errorf("Verify = %+v, %v", r, err)
	}
}

func TestRevocationAndCertEntries(t *testing.T) {
	k := newKey(t)
	e := RevocationEntry(&Revocations{Org: "acme", OrgKey: OrgPublicKey(k), Version: 4, Serials: []string{"a", "b"}}, 3)
	if e.Kind != KindRevocation || e.Subject != "revocations acme v4" || !strings.Contains(e.Reason, "2 serials revoked") || !strings.Contains(e.Reason, "replacing version 3") {
		t.Errorf("RevocationEntry = %+v", e)
	}
	signed, err := SignRevocations(k, Revocations{Org: "acme", Version: 5, Serials: []string{"x"}, Issued: t0})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := RevocationInstalledEntry(signed); err != nil || e.Subject != "revocations acme v5" || !strings.HasPrefix(e.Reason, "1 serials revoked") {
		t.Errorf("RevocationInstalledEntry = %+v, %v", e, err)
	}
	c := CertRefusedEntry(peerB, ErrRevoked)
	if c.Kind != KindCertRefused || c.Peer != peerB || c.Reason != ErrRevoked.Error() {
		t.Errorf("CertRefusedEntry = %+v", c)
	}
}

func TestAuditOptionsValidate(t *testing.T) {
	k := newKey(t)
	p := filepath.Join(t.TempDir(), "audit.log")
	for _, o := range []AuditOptions{
		{Signer: KeySigner(k)},                   // no node
		{Signer: KeySigner(k[:32]), Node: peerA}, // a seed, not a private key
		{Signer: KeySigner(k), Node: "not a peer id!"},
	} {
		if _, err := OpenAuditWith(p, o); err == nil {
			t.Errorf("OpenAuditWith(%+v) accepted", o)
		}
	}
}
