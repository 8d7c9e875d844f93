package sovereignty

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckpointBook(t *testing.T) {
	k := newKey(t)
	sign := func(seq uint64, head string, at time.Duration, final bool) Checkpoint {
		cp, err := signCheckpoint(KeySigner(k), Checkpoint{Node: peerA, Seq: seq, Head: strings.Repeat(head, 32), Time: t0.Add(at), Final: final})
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	b := NewCheckpointBook(1)
	if err := b.Keep(sign(10, "aa", 0, false)); err != nil {
		t.Fatal(err)
	}
	if err := b.Keep(sign(12, "bb", time.Minute, false)); err != nil {
		t.Fatal(err)
	}
	if err := b.Keep(sign(12, "bb", time.Minute, true)); err != nil {
		t.Errorf("final checkpoint of the same head: %v", err)
	}
	for _, tc := range []struct {
		name string
		cp   Checkpoint
		want error
	}{
		{"re-delivered", sign(10, "aa", 0, false), ErrStale},
		{"two heads for one seq", sign(12, "cc", 2*time.Minute, false), ErrAuditBroken},
		{"lower seq signed later", sign(5, "dd", time.Hour, false), ErrAuditBroken},
	} {
		if err := b.Keep(tc.cp); !errors.Is(err, tc.want) {
			t.Errorf("%s: Keep = %v, want %v", tc.name, err, tc.want)
		}
	}
	other, _ := signCheckpoint(KeySigner(newKey(t)), Checkpoint{Node: peerA, Seq: 20, Head: strings.Repeat("ee", 32), Time: t0.Add(time.Hour)})
	if err := b.Keep(other); !errors.Is(err, ErrBadSignature) {
		t.Errorf("another key: %v", err)
	}
	forged := sign(30, "ff", time.Hour, false)
	forged.Seq = 31
	if err := b.Keep(forged); !errors.Is(err, ErrBadSignature) {
		t.Errorf("forged: %v", err)
	}
	if cp, ok := b.Get(peerA); !ok || cp.Seq != 12 || !cp.Final {
		t.Errorf("Get = %+v, %v", cp, ok)
	}
	stranger, _ := signCheckpoint(KeySigner(k), Checkpoint{Node: peerB, Seq: 1, Head: strings.Repeat("aa", 32), Time: t0})
	if err := b.Keep(stranger); err == nil {
		t.Error("book over its node limit accepted another node")
	}
}
