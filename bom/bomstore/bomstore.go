package bomstore

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/cairnhub/cairn/bom"
	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/inference/gguf"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/modelsign"
	"github.com/cairnhub/cairn/modelsign/revsign"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// Store is what Build reads of the block store; *store.Store is one.
type Store interface {
	chunker.Getter
	Check(ctx context.Context, kind manifest.Kind, repo, commit string) (store.Check, bool, error)
	QuarantineOf(ctx context.Context, kind manifest.Kind, repo, commit string) (store.Quarantine, bool, error)
}

// Sources are what a BOM states beyond the store: who holds the
// revision, and the upstream Hub a mirrored revision came from.
type Sources struct {
	Holders []bom.Holder
	// Upstream is the Hub's base URL (upstream.endpoint); a revision the
	// gate checked via "mirror" names it with the repo and check time.
	Upstream string
}

// Build returns the CycloneDX 1.6 ML-BOM of revision m: its files with
// sha256, the gate's check and quarantine, the model card, GGUF or
// config.json facts, the signatures, the holders and the upstream.
func Build(ctx context.Context, st Store, m *manifest.Manifest, src Sources) ([]byte, error) {
	in := bom.Input{Repo: m.Repo, Revision: m.Commit, Kind: string(m.Type), Holders: src.Holders}
	check, checked, err := st.Check(ctx, m.Type, m.Repo, m.Commit)
	if err != nil {
		return nil, err
	}
	if checked && check.Via == "mirror" && src.Upstream != "" {
		base := strings.TrimSuffix(src.Upstream, "/")
		if m.Type == manifest.Dataset {
			base += "/datasets"
		}
		in.Upstream = &bom.Upstream{URL: base + "/" + m.Repo, Revision: m.Commit, MirroredAt: check.Time}
	}
	scans := map[string]*bom.FileScan{}
	if checked {
		for _, f := range check.Files {
			scans[f.Path] = &bom.FileScan{Verdict: f.Verdict, Findings: f.Findings}
		}
		for _, l := range check.Licences {
			in.Licenses = append(in.Licenses, bom.License{ID: l, Source: "compliance gate"})
		}
	}
	for _, f := range m.Files {
		in.Files = append(in.Files, bom.File{Path: f.Path, SHA256: f.SHA256, Size: f.Size, Scan: scans[f.Path]})
	}
	if in.Scan, err = bomScan(ctx, st, m, check, checked); err != nil {
		return nil, err
	}
	if err := bomFacts(ctx, st, m, &in); err != nil {
		return nil, err
	}
	in.Signatures = bomSignatures(ctx, st, m)
	return bom.Build(in)
}

// bomScan is the gate's verdict on m, nil when it was never checked.
func bomScan(ctx context.Context, st Store, m *manifest.Manifest, check store.Check, checked bool) (*bom.Scan, error) {
	if !checked {
		return nil, nil
	}
	s := &bom.Scan{Verdict: "safe", Policy: check.Rule, Scanner: "cairn scan (pickle opcodes, safetensors and GGUF headers) via " + check.Via, Time: check.Time}
	for _, f := range check.Files {
		switch {
		case f.Verdict == "unsafe":
			s.Verdict = "unsafe"
		case f.Verdict == "unknown" && s.Verdict == "safe":
			s.Verdict = "unknown"
		}
	}
	q, ok, err := st.QuarantineOf(ctx, m.Type, m.Repo, m.Commit)
	if err != nil {
		return nil, err
	}
	if ok {
		s.Quarantined, s.Reason = q.InForce(), strings.Join(q.Reasons, "; ")
		if r, err := sovereignty.ParseRelease(q.Release); err == nil && len(q.Release) > 0 {
			s.ReleasedBy = sovereignty.FormatOrgPublicKey(r.OrgKey)
		}
	}
	return s, nil
}

// bomFacts reads the model card, config.json and the first GGUF header.
func bomFacts(ctx context.Context, st Store, m *manifest.Manifest, in *bom.Input) error {
	for _, f := range m.Files {
		var err error
		switch {
		case strings.EqualFold(f.Path, "README.md"):
			var b []byte
			if b, err = chunker.ReadAll(ctx, st, f.CID, bom.MaxFrontMatter+8); err == nil {
				_, in.Card, _ = bom.ParseCard(b) // a card that does not parse states nothing
			}
		case f.Path == "config.json":
			var b []byte
			if b, err = chunker.ReadAll(ctx, st, f.CID, bom.MaxConfigJSON); err == nil {
				if cfg, perr := bom.ParseConfig(b); perr == nil {
					in.Config = &cfg
				}
			}
		case strings.HasSuffix(strings.ToLower(f.Path), ".gguf") && in.GGUF == nil:
			var r *chunker.Reader
			if r, err = chunker.NewReader(ctx, st, f.CID); err == nil {
				if g, gerr := gguf.ReadHeader(io.NewSectionReader(r, 0, r.Size()), r.Size()); gerr == nil {
					facts := bom.GGUFFacts(f.Path, g)
					in.GGUF = &facts
				}
			}
		}
		if err != nil {
			return fmt.Errorf("bom %s@%s: %s: %w", m.Repo, m.Commit, f.Path, err)
		}
	}
	return nil
}

// bomSignatures lists Cairn's manifest signatures (checked against their
// own keys) and a model.sig bundle (described, not verified here: the
// trusted keys are the verifier's).
func bomSignatures(ctx context.Context, st Store, m *manifest.Manifest) []bom.Signature {
	var out []bom.Signature
	for _, s := range m.Signatures {
		k, err := sovereignty.ParseOrgPublicKey(s.Key)
		ok := err == nil
		if ok {
			_, err = sovereignty.VerifyManifest(m, nil, false)
			ok = err == nil && len(k) > 0
		}
		out = append(out, bom.Signature{Format: "cairn", Method: "key", Signer: s.Key, Verified: ok})
	}
	if f, found := m.File(modelsign.SignatureFile); found {
		if b, err := chunker.ReadAll(ctx, st, f.CID, revsign.MaxBundle); err == nil {
			if info, err := modelsign.Describe(b); err == nil {
				signer := info.KeyHint
				if info.Method == modelsign.MethodCertificate {
					signer = info.Subject
				}
				out = append(out, bom.Signature{Format: "openssf-model-signing", Method: info.Method, Signer: signer, File: modelsign.SignatureFile})
			}
		}
	}
	return out
}
