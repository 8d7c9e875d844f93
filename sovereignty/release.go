package sovereignty

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"net/url"
	"strings"
	"time"
)

const (
	releaseHeader = "cairn-release-v1"
	// MaxReleaseSize bounds ParseRelease's input.
	MaxReleaseSize = 4096
	// MaxReleaseReason bounds a release's reason text.
	MaxReleaseReason = 1024
)

var releaseKeys = []string{"org-key", "kind", "repo", "commit", "reason", "time", "signature"}

// Release lifts the quarantine of one revision: an operator holding the
// organisation key says why, and every node that trusts the organisation
// serves the revision again. It travels with the revision (stored beside
// its quarantine record). Encoding:
//
//	cairn-release-v1
//	org-key: cairn-org:...
//	kind: model
//	repo: acme/llama
//	commit: 0123...(40 hex)
//	reason: reviewed+by+security%3A+false+positive   (url.QueryEscape)
//	time: 2026-12-07T02:00:00Z
//	signature: ...
type Release struct {
	OrgKey    ed25519.PublicKey // signer; SignRelease fills it
	Kind      string            // "model" or "dataset"
	Repo      string            // ORG/NAME
	Commit    string            // 40 lower-case hex
	Reason    string            // why, 1..MaxReleaseReason bytes of UTF-8
	Time      time.Time         // SignRelease uses the current time when zero
	Signature []byte
}

func (r *Release) validate() error {
	const doc = "release"
	org, name, _ := strings.Cut(r.Repo, "/")
	switch {
	case len(r.OrgKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%s: field \"org-key\": %w", doc, ErrBadKey)
	case r.Kind != "model" && r.Kind != "dataset":
		return fmt.Errorf("%s: field \"kind\" %q: want model or dataset: %w", doc, trunc(r.Kind), ErrBadField)
	case !token(org, 96) || !token(name, 96):
		return fmt.Errorf("%s: field \"repo\" %q: want ORG/NAME of [A-Za-z0-9._-]: %w", doc, trunc(r.Repo), ErrBadField)
	case len(r.Commit) != 40 || strings.Trim(r.Commit, "0123456789abcdef") != "":
		return fmt.Errorf("%s: field \"commit\": want 40 lower-case hex digits: %w", doc, ErrBadField)
	case strings.TrimSpace(r.Reason) == "" || len(r.Reason) > MaxReleaseReason || strings.ToValidUTF8(r.Reason, "") != r.Reason:
		return fmt.Errorf("%s: field \"reason\": want 1-%d bytes of UTF-8: %w", doc, MaxReleaseReason, ErrBadField)
	case r.Time.Year() < 2000 || r.Time.Year() > 9999 || !r.Time.Equal(r.Time.Truncate(time.Second)):
		return fmt.Errorf("%s: field \"time\": %w", doc, ErrBadField)
	}
	return nil
}

func (r *Release) signedPart() []byte {
	b := make([]byte, 0, 256+len(r.Reason)*3)
	b = append(b, releaseHeader+"\n"...)
	b = appendField(b, "org-key", FormatOrgPublicKey(r.OrgKey))
	b = appendField(b, "kind", r.Kind)
	b = appendField(b, "repo", r.Repo)
	b = appendField(b, "commit", r.Commit)
	b = appendField(b, "reason", url.QueryEscape(r.Reason))
	return appendField(b, "time", formatTime(r.Time))
}

// Subject is "kind:ORG/NAME@commit", the revision the release lifts.
func (r *Release) Subject() string { return r.Kind + ":" + r.Repo + "@" + r.Commit }

// SignRelease signs r with the organisation key and returns its encoding.
func SignRelease(orgKey ed25519.PrivateKey, r Release) ([]byte, error) {
	if len(orgKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign release: signing key: %w", ErrBadKey)
	}
	pub := OrgPublicKey(orgKey)
	if r.OrgKey != nil && !bytes.Equal(r.OrgKey, pub) {
		return nil, fmt.Errorf("sign release: OrgKey differs from the signing key: %w", ErrBadKey)
	}
	r.OrgKey = pub
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Time = r.Time.UTC().Truncate(time.Second)
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	msg := r.signedPart()
	return appendField(msg, "signature", b64.EncodeToString(ed25519.Sign(orgKey, msg))), nil
}

// ParseRelease decodes a release strictly (size, header, field order,
// values, canonical form); it does not check the signature (VerifyRelease
// does).
func ParseRelease(b []byte) (*Release, error) {
	const doc = "release"
	if len(b) > MaxReleaseSize {
		return nil, fmt.Errorf("%s: %d bytes, limit %d: %w", doc, len(b), MaxReleaseSize, ErrTooLarge)
	}
	fs, err := splitFields(doc, b, releaseHeader)
	if err != nil {
		return nil, err
	}
	if err := expectKeys(doc, fs, releaseKeys); err != nil {
		return nil, err
	}
	r := &Release{Kind: fs[1].val, Repo: fs[2].val, Commit: fs[3].val}
	if r.OrgKey, err = ParseOrgPublicKey(fs[0].val); err != nil {
		return nil, fmt.Errorf("%s: field \"org-key\": %w", doc, err)
	}
	if r.Reason, err = url.QueryUnescape(fs[4].val); err != nil {
		return nil, fmt.Errorf("%s: field \"reason\": %w", doc, ErrBadField)
	}
	if r.Time, err = parseTime(doc, "time", fs[5].val); err != nil {
		return nil, err
	}
	if r.Signature, err = parseSig(doc, fs[6].val); err != nil {
		return nil, err
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	if !bytes.Equal(appendField(r.signedPart(), "signature", b64.EncodeToString(r.Signature)), b) {
		return nil, fmt.Errorf("%s: not in canonical form: %w", doc, ErrMalformed)
	}
	return r, nil
}

// VerifyRelease decodes a release and checks that an organisation in trust
// signed it (ErrUntrustedOrg, ErrBadSignature).
func VerifyRelease(trust *Trust, b []byte) (*Release, error) {
	r, err := ParseRelease(b)
	if err != nil {
		return nil, err
	}
	if !trust.Trusted(r.OrgKey) {
		return nil, fmt.Errorf("release of %s by %s: %w", r.Subject(), FormatOrgPublicKey(r.OrgKey), ErrUntrustedOrg)
	}
	if !ed25519.Verify(r.OrgKey, r.signedPart(), r.Signature) {
		return nil, fmt.Errorf("release of %s: %w", r.Subject(), ErrBadSignature)
	}
	return r, nil
}

// QuarantineEntry is the audit entry of a revision committed quarantined;
// via names the way in ("add", "bundle import", "mirror", "pull").
func QuarantineEntry(via, kind, repo, commit string, v Verdict) Entry {
	return Entry{Kind: KindQuarantine, Subject: "quarantine: import via " + via + " (" + kind + ")", Repo: repo + "@" + commit,
		Reason: v.Rule + ": " + strings.Join(v.Reasons, "; ")}
}

// ScanWarningEntry is the audit entry of findings a rule let through
// (scan: warn, or unknown files under scan: block).
func ScanWarningEntry(via, kind, repo, commit string, v Verdict) Entry {
	return Entry{Kind: KindScanWarning, Subject: "scan warning: import via " + via + " (" + kind + ")", Repo: repo + "@" + commit,
		Reason: v.Rule + ": " + strings.Join(v.Warnings, "; ")}
}

// ReleaseEntry is the audit entry of a verified release that lifted a
// quarantine.
func ReleaseEntry(r *Release) Entry {
	return Entry{Kind: KindUnquarantine, Time: time.Now(), Subject: "release of quarantine (" + r.Kind + ")", Repo: r.Repo + "@" + r.Commit,
		Reason: "signed by " + FormatOrgPublicKey(r.OrgKey) + " at " + formatTime(r.Time) + ": " + r.Reason}
}

// ReleaseRefusedEntry is the audit entry of a release that did not verify
// or does not match a quarantined revision.
func ReleaseRefusedEntry(repo string, err error) Entry {
	return Entry{Kind: KindDeny, Subject: "release of quarantine", Repo: repo, Reason: err.Error()}
}
