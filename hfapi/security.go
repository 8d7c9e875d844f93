package hfapi

import (
	"context"

	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/store"
)

// FileScan is the compliance gate's verdict on one file of a revision, as
// tree and paths-info listings with expand give it.
type FileScan struct {
	Verdict  string   // "safe", "unknown" or "unsafe"
	Findings []string // the first findings, one line each
}

// Checks are the gate's stored checks: *store.Store.
type Checks interface {
	Check(ctx context.Context, kind manifest.Kind, repo, commit string) (store.Check, bool, error)
}

// StoredFileScans is Options.FileScans over the gate's stored checks; a
// revision never checked has none.
func StoredFileScans(st Checks) func(ctx context.Context, m *manifest.Manifest) map[string]FileScan {
	return func(ctx context.Context, m *manifest.Manifest) map[string]FileScan {
		c, ok, err := st.Check(ctx, m.Type, m.Repo, m.Commit)
		if err != nil || !ok {
			return nil
		}
		out := make(map[string]FileScan, len(c.Files))
		for _, f := range c.Files {
			out[f.Path] = FileScan{Verdict: f.Verdict, Findings: f.Findings}
		}
		return out
	}
}

// securityFileStatus is the Hub's per-file scan field; huggingface_hub
// reads status, avScan and pickleImportScan (RepoFile.security).
type securityFileStatus struct {
	Status           string            `json:"status"`
	AVScan           *struct{}         `json:"avScan"`
	PickleImportScan *pickleImportScan `json:"pickleImportScan"`
}

type pickleImportScan struct {
	HighestSafetyLevel string   `json:"highestSafetyLevel"` // the Hub's words: innocuous, suspicious, dangerous
	Findings           []string `json:"findings,omitempty"`
}

var safetyLevel = map[string]string{"safe": "innocuous", "unknown": "suspicious", "unsafe": "dangerous"}

// annotate adds the gate's verdicts to the file entries of m, when the
// server has them (Options.FileScans).
func (s *Server) annotate(ctx context.Context, m *manifest.Manifest, entries []entry) {
	if s.o.FileScans == nil {
		return
	}
	scans := s.o.FileScans(ctx, m)
	for i := range entries {
		if fs, ok := scans[entries[i].Path]; ok && entries[i].Type == "file" {
			entries[i].Security = &securityFileStatus{Status: fs.Verdict,
				PickleImportScan: &pickleImportScan{HighestSafetyLevel: safetyLevel[fs.Verdict], Findings: fs.Findings}}
		}
	}
}
