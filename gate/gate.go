package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/cairnhub/cairn/chunker"
	"github.com/cairnhub/cairn/licence"
	"github.com/cairnhub/cairn/manifest"
	"github.com/cairnhub/cairn/scan"
	"github.com/cairnhub/cairn/sovereignty"
	"github.com/cairnhub/cairn/store"
)

// maxFindings bounds the finding lines kept per file in a check record.
const maxFindings = 8

// Records is where a gate keeps its records; *store.Store implements it.
type Records interface {
	SetCheck(ctx context.Context, c store.Check) error
	Quarantine(ctx context.Context, q store.Quarantine) error
	Release(ctx context.Context, kind manifest.Kind, repo, commit string, signed []byte) error
}

// Gate checks revisions as they come in and records its verdicts. Only
// Records is required.
type Gate struct {
	// Engine holds the policy whose scan and licenses fields apply. Nil,
	// or no policy in force: scan: block, any licence.
	Engine *sovereignty.Engine
	// Trust verifies release documents; nil refuses every release.
	Trust *sovereignty.Trust
	// Records keeps checks, quarantines and releases: the node's store.
	Records Records
	// Audit records quarantines, warnings and releases. Nil records
	// nothing (tests, tools without a log).
	Audit sovereignty.Auditor
	// Via names the way in, in records and audit entries: "add",
	// "bundle import", "mirror", "pull". Default "import".
	Via string
	// Scanner bounds each scan; the zero value takes scan's defaults.
	Scanner scan.Scanner
}

// Validate checks the gate's fields.
func (g *Gate) Validate() error {
	if g == nil || g.Records == nil {
		return errors.New("gate: no Records")
	}
	return g.Scanner.Limits.Validate()
}

func (g *Gate) via() string {
	if g.Via == "" {
		return "import"
	}
	return g.Via
}

// Opener opens a file of the revision by its path; the ReaderAt is closed
// after the scan when it is an io.Closer.
type Opener func(path string) (io.ReaderAt, int64, error)

// Result is the check of one revision, before it is committed.
type Result struct {
	Kind     manifest.Kind
	Repo     string
	Time     time.Time
	Files    []store.FileScan // sorted by path
	Licences []licence.Found
	Verdict  sovereignty.Verdict
	// Release, when an importer sets it, is a signed release that came
	// with the revision (from a bundle or a peer): Record applies it after
	// quarantining.
	Release []byte
}

// Run collects the scans of one revision while its files are imported.
// Scan is safe for concurrent use.
type Run struct {
	g    *Gate
	kind manifest.Kind
	repo string

	mu    sync.Mutex
	files map[string]store.FileScan
	facts map[string]sovereignty.FileFacts
	texts map[string][]byte // model card and licence files
}

// Start begins the check of a revision of repo.
func (g *Gate) Start(kind manifest.Kind, repo string) *Run {
	return &Run{g: g, kind: kind, repo: repo, files: map[string]store.FileScan{},
		facts: map[string]sovereignty.FileFacts{}, texts: map[string][]byte{}}
}

// Scan scans one file of the revision, held by r (the source file during an
// add, a chunker.Reader over the store after a bundle import or a mirror);
// it reads only pickle streams and headers, and the model card and licence
// files whole (up to licence.MaxText). An error means ctx ended or a
// licence file could not be read.
func (run *Run) Scan(ctx context.Context, path string, r io.ReaderAt, size int64) error {
	rep, err := run.g.Scanner.File(ctx, path, r, size)
	if err != nil {
		return err
	}
	fs := store.FileScan{Path: path, Verdict: rep.Verdict.String()}
	for _, f := range rep.Findings[:min(len(rep.Findings), maxFindings)] {
		fs.Findings = append(fs.Findings, f.String())
	}
	ff := sovereignty.FileFacts{Path: path, Verdict: fileVerdict(rep.Verdict)}
	if rep.Verdict != scan.Safe {
		ff.Summary = rep.Summary()
	}
	var text []byte
	if licence.IsCard(path) || licence.IsLicenceFile(path) {
		text = make([]byte, min(size, licence.MaxText))
		if _, err := r.ReadAt(text, 0); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("gate: read %s: %w", path, err)
		}
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	run.files[path], run.facts[path] = fs, ff
	if text != nil {
		run.texts[path] = text
	}
	return nil
}

func fileVerdict(v scan.Verdict) sovereignty.FileVerdict {
	switch v {
	case scan.Safe:
		return sovereignty.FileSafe
	case scan.Unknown:
		return sovereignty.FileUnknown
	}
	return sovereignty.FileUnsafe
}

// Finish scans the files of paths not scanned yet, through open, detects
// the licences and asks the policy. It records nothing: Record does, before
// the revision is committed.
func (run *Run) Finish(ctx context.Context, paths []string, open Opener) (*Result, error) {
	for _, p := range paths {
		run.mu.Lock()
		_, done := run.files[p]
		run.mu.Unlock()
		if done {
			continue
		}
		if open == nil {
			return nil, fmt.Errorf("gate: %s was not scanned and there is no way to open it", p)
		}
		if err := run.scanOpened(ctx, p, open); err != nil {
			return nil, err
		}
	}
	res := &Result{Kind: run.kind, Repo: run.repo, Time: time.Now().UTC()}
	facts := sovereignty.RevisionFacts{}
	for _, p := range slices.Sorted(maps.Keys(run.files)) {
		res.Files = append(res.Files, run.files[p])
		facts.Files = append(facts.Files, run.facts[p])
	}
	card := run.texts["README.md"]
	others := map[string][]byte{}
	for p, t := range run.texts {
		if licence.IsLicenceFile(p) {
			others[p] = t
		}
	}
	found, cardErr := licence.Detect(card, others)
	res.Licences = found
	for _, f := range found {
		facts.Licences = append(facts.Licences, f.ID)
	}
	res.Verdict = run.g.Engine.Admit(run.repo, facts)
	if cardErr != nil {
		res.Verdict.Warnings = append(res.Verdict.Warnings, cardErr.Error())
	}
	return res, nil
}

func (run *Run) scanOpened(ctx context.Context, p string, open Opener) error {
	r, size, err := open(p)
	if err != nil {
		return fmt.Errorf("gate: open %s: %w", p, err)
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	return run.Scan(ctx, p, r, size)
}

// Check scans every file of paths through open and decides: Start, then
// Finish, for importers that scan after the files are stored.
func (g *Gate) Check(ctx context.Context, kind manifest.Kind, repo string, paths []string, open Opener) (*Result, error) {
	return g.Start(kind, repo).Finish(ctx, paths, open)
}

// Quarantined reports whether the result quarantines the revision.
func (r *Result) Quarantined() bool { return r != nil && r.Verdict.Quarantine }

// Summary counts the files by verdict: "1 unsafe, 0 unknown, 4 safe".
func (r *Result) Summary() string {
	n := map[string]int{}
	for _, f := range r.Files {
		n[f.Verdict]++
	}
	return fmt.Sprintf("%d unsafe, %d unknown, %d safe", n["unsafe"], n["unknown"], n["safe"])
}

// Record stores the check of the revision commit and, when the verdict
// says so, its quarantine, with the audit entries; then applies a release
// that came with it. Importers call it after Finish and before Commit, so
// a quarantined revision is never visible unquarantined. An error leaves
// the revision uncommitted.
func (g *Gate) Record(ctx context.Context, res *Result, commit string) error {
	lic := make([]string, len(res.Licences))
	for i, f := range res.Licences {
		lic[i] = f.ID
	}
	c := store.Check{Kind: res.Kind, Repo: res.Repo, Commit: commit, Time: res.Time, Via: g.via(), Rule: res.Verdict.Rule,
		Files: res.Files, Licences: lic, Warnings: res.Verdict.Warnings}
	if err := g.Records.SetCheck(ctx, c); err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	if len(res.Verdict.Warnings) > 0 {
		if err := g.audit(sovereignty.ScanWarningEntry(g.via(), string(res.Kind), res.Repo, commit, res.Verdict)); err != nil {
			return err
		}
	}
	if !res.Verdict.Quarantine {
		return nil
	}
	q := store.Quarantine{Kind: res.Kind, Repo: res.Repo, Commit: commit, Reasons: res.Verdict.Reasons, Scan: res.Summary(), Time: res.Time}
	if err := g.Records.Quarantine(ctx, q); err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	if err := g.audit(sovereignty.QuarantineEntry(g.via(), string(res.Kind), res.Repo, commit, res.Verdict)); err != nil {
		return err
	}
	if res.Release != nil {
		// A release that came with the revision and does not verify here
		// leaves it quarantined (the refusal is audited); the import goes on.
		if _, err := g.Release(ctx, res.Release); err != nil && !errors.Is(err, ErrReleaseRefused) {
			return err
		}
	}
	return nil
}

func (g *Gate) audit(e sovereignty.Entry) error {
	if g.Audit == nil {
		return nil
	}
	if err := g.Audit.Append(e); err != nil {
		return fmt.Errorf("gate: audit: %w", err)
	}
	return nil
}

// ErrReleaseRefused wraps every refusal of a release document.
var ErrReleaseRefused = errors.New("release refused")

// Release verifies a signed release against Trust and stores it with the
// quarantine record of the revision it names, which then is served again.
// A release that does not verify (untrusted organisation, bad signature,
// malformed) or names a revision that is not quarantined is refused,
// wrapping ErrReleaseRefused and the cause, and audited.
func (g *Gate) Release(ctx context.Context, signed []byte) (*sovereignty.Release, error) {
	refuse := func(repo string, err error) (*sovereignty.Release, error) {
		err = fmt.Errorf("%w: %w", ErrReleaseRefused, err)
		return nil, errors.Join(err, g.audit(sovereignty.ReleaseRefusedEntry(repo, err)))
	}
	if g.Trust == nil {
		return refuse("", errors.New("no trusted organisation keys on this node"))
	}
	r, err := sovereignty.VerifyRelease(g.Trust, signed)
	if err != nil {
		repo := ""
		if p, perr := sovereignty.ParseRelease(signed); perr == nil {
			repo = p.Repo + "@" + p.Commit
		}
		return refuse(repo, err)
	}
	if err := g.Records.Release(ctx, manifest.Kind(r.Kind), r.Repo, r.Commit, signed); err != nil {
		if errors.Is(err, store.ErrNotQuarantined) {
			return refuse(r.Repo+"@"+r.Commit, err)
		}
		return nil, fmt.Errorf("gate: %w", err)
	}
	return r, g.audit(sovereignty.ReleaseEntry(r))
}

// StoreOpener opens the files of manifest m through a chunker reader over
// the store: for scanning after a bundle import or a mirror, where only the
// pickle members and headers are read back.
func StoreOpener(ctx context.Context, get chunker.Getter, m *manifest.Manifest) Opener {
	return func(p string) (io.ReaderAt, int64, error) {
		f, ok := m.File(p)
		if !ok {
			return nil, 0, fmt.Errorf("%s is not in %s@%s", p, m.Repo, m.Commit)
		}
		r, err := chunker.NewReader(ctx, get, f.CID)
		if err != nil {
			return nil, 0, err
		}
		return r, r.Size(), nil
	}
}

// Paths returns the paths of m's files, for Finish and Check.
func Paths(m *manifest.Manifest) []string {
	out := make([]string, len(m.Files))
	for i, f := range m.Files {
		out[i] = f.Path
	}
	return out
}
