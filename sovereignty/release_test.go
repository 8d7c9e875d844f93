package sovereignty

import (
	"bytes"
	"errors"
	"testing"
)

const commitA = "0123456789abcdef0123456789abcdef01234567"

func TestReleaseSignVerify(t *testing.T) {
	k, other := newKey(t), newKey(t)
	tr, _ := NewTrust(OrgPublicKey(k))
	b, err := SignRelease(k, Release{Kind: "model", Repo: "acme/llama", Commit: commitA, Reason: "reviewed: false positive, ok to serve", Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	r, err := VerifyRelease(tr, b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject() != "model:acme/llama@"+commitA || r.Reason != "reviewed: false positive, ok to serve" || !r.Time.Equal(t0) {
		t.Errorf("verified %+v", r)
	}
	ob, err := SignRelease(other, Release{Kind: "model", Repo: "acme/llama", Commit: commitA, Reason: "let me in"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyRelease(tr, ob); !errors.Is(err, ErrUntrustedOrg) {
		t.Errorf("VerifyRelease(untrusted) = %v", err)
	}
	forged := bytes.Replace(b, []byte("acme/llama"), []byte("acme/other"), 1)
	if _, err := VerifyRelease(tr, forged); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyRelease(edited repo) = %v", err)
	}
	for _, bad := range []Release{
		{Kind: "image", Repo: "acme/llama", Commit: commitA, Reason: "x"},
		{Kind: "model", Repo: "acme", Commit: commitA, Reason: "x"},
		{Kind: "model", Repo: "acme/llama", Commit: "ABC", Reason: "x"},
		{Kind: "model", Repo: "acme/llama", Commit: commitA, Reason: "  "},
	} {
		if _, err := SignRelease(k, bad); !errors.Is(err, ErrBadField) {
			t.Errorf("SignRelease(%+v) = %v", bad, err)
		}
	}
}

// FuzzParseRelease: no panics, and an accepted release is canonical.
func FuzzParseRelease(f *testing.F) {
	k := newKey(f)
	b, err := SignRelease(k, Release{Kind: "dataset", Repo: "acme/d", Commit: commitA, Reason: "ok 100% – reviewed", Time: t0})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(bytes.Replace(b, []byte("+"), []byte("%20"), 1))
	f.Add([]byte("cairn-release-v1\norg-key: x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRelease(b)
		if err != nil {
			return
		}
		re := appendField(r.signedPart(), "signature", b64.EncodeToString(r.Signature))
		if !bytes.Equal(re, b) {
			t.Fatalf("accepted non-canonical %q", b)
		}
	})
}
