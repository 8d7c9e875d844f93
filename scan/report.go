package scan

import (
	"fmt"
	"sort"
	"strings"
)

// Verdict is the outcome of a scan; a larger value is worse.
type Verdict int

const (
	// Safe: every import is on the allow-list and every header is valid.
	Safe Verdict = iota
	// Unknown: something could not be classified (an import on neither
	// list, a pickle that does not parse to its end, an extension code).
	Unknown
	// Unsafe: a denied import, an import whose name cannot be determined,
	// an invalid header or container, or a limit hit on hostile input.
	Unsafe
)

func (v Verdict) String() string {
	switch v {
	case Safe:
		return "safe"
	case Unknown:
		return "unknown"
	case Unsafe:
		return "unsafe"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// MarshalText writes the verdict as its name.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads a verdict written by MarshalText.
func (v *Verdict) UnmarshalText(b []byte) error {
	for _, c := range []Verdict{Safe, Unknown, Unsafe} {
		if string(b) == c.String() {
			*v = c
			return nil
		}
	}
	return fmt.Errorf("scan: unknown verdict %q", b)
}

// Kind names what a finding is about.
type Kind string

// Finding kinds.
const (
	// KindImport: a GLOBAL, STACK_GLOBAL or INST import that is not on the
	// allow-list (Module and Name are set).
	KindImport Kind = "import"
	// KindUnresolved: an import whose module or name the scanner cannot
	// determine (computed by a call, too long, or lost past a limit).
	KindUnresolved Kind = "unresolved-import"
	// KindCall: REDUCE, OBJ or NEWOBJ calls a value that is not an imported
	// name, or BUILD sets state on an imported name itself.
	KindCall Kind = "call"
	// KindExtension: EXT1/EXT2/EXT4 refer to the copyreg extension registry.
	KindExtension Kind = "extension"
	// KindTruncated: the pickle ends before its STOP opcode.
	KindTruncated Kind = "truncated"
	// KindMalformed: the pickle has an unknown opcode or an operation the
	// unpickler would reject (stack underflow, bad memo key, bad literal).
	KindMalformed Kind = "malformed"
	// KindLimit: a bound on stack, memo, size, depth, members or time was hit.
	KindLimit Kind = "limit"
	// KindHeader: a safetensors or GGUF header is invalid.
	KindHeader Kind = "header"
	// KindContainer: a zip the scanner cannot read, or whose layout is
	// ambiguous (duplicate member names, unsafe paths).
	KindContainer Kind = "container"
	// KindUnscanned: content the scanner recognises but does not check
	// (TorchScript code, legacy tar checkpoints, pickle-named files that are
	// no pickle).
	KindUnscanned Kind = "unscanned"
)

// Format is what the scanner recognised a file as.
type Format string

// Formats.
const (
	FormatPickle      Format = "pickle"
	FormatTorchZip    Format = "pytorch-zip"
	FormatZip         Format = "zip"
	FormatSafetensors Format = "safetensors"
	FormatGGUF        Format = "gguf"
	FormatNumpy       Format = "npy"
	FormatTar         Format = "tar"
	FormatEmpty       Format = "empty"
	FormatOther       Format = "other"
)

// Finding is one reason a file is not Safe.
type Finding struct {
	Kind    Kind    `json:"kind"`
	Verdict Verdict `json:"verdict"`
	// Member locates the stream inside the file: a zip member path, with
	// "@OFFSET" appended for a pickle nested in a string at that offset of
	// its parent stream; empty for the file itself.
	Member string `json:"member,omitempty"`
	Module string `json:"module,omitempty"`
	Name   string `json:"name,omitempty"`
	// Offset is the byte offset in the stream named by Member (the opcode,
	// or the header field) where the finding was made.
	Offset int64  `json:"offset"`
	Reason string `json:"reason"`
}

func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", f.Verdict, f.Kind)
	if f.Member != "" {
		fmt.Fprintf(&b, " in %s", f.Member)
	}
	fmt.Fprintf(&b, " at %d", f.Offset)
	if f.Module != "" || f.Name != "" {
		fmt.Fprintf(&b, ": %s.%s", f.Module, f.Name)
	}
	fmt.Fprintf(&b, ": %s", f.Reason)
	return b.String()
}

// Import is one distinct name a pickle imports, with its classification.
type Import struct {
	Module  string  `json:"module"`
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	Count   int     `json:"count"`
}

// Report is the result of scanning one file.
type Report struct {
	Verdict  Verdict   `json:"verdict"`
	Format   Format    `json:"format"`
	Findings []Finding `json:"findings,omitempty"`
	// Imports lists every distinct import seen, safe ones included, sorted.
	Imports []Import `json:"imports,omitempty"`
	// Pickles is the number of pickle streams walked (nested ones included).
	Pickles int `json:"pickles"`
	// BytesRead is how many bytes of the file the scanner read.
	BytesRead int64 `json:"bytes_read"`
}

// Summary is a one-line description for logs and listings.
func (r Report) Summary() string {
	if len(r.Findings) == 0 {
		return fmt.Sprintf("%s (%s)", r.Verdict, r.Format)
	}
	worst := r.Findings[0]
	for _, f := range r.Findings[1:] {
		if f.Verdict > worst.Verdict {
			worst = f
		}
	}
	more := ""
	if len(r.Findings) > 1 {
		more = fmt.Sprintf(" (+%d more)", len(r.Findings)-1)
	}
	return fmt.Sprintf("%s (%s): %s%s", r.Verdict, r.Format, worst, more)
}

// sink collects findings and imports for one report, bounded in count.
type sink struct {
	lim      *Limits
	findings []Finding
	seen     map[string]bool
	dropped  int
	imports  map[[2]string]*Import
	verdict  Verdict
	pickles  int
}

func newSink(lim *Limits) *sink {
	return &sink{lim: lim, seen: map[string]bool{}, imports: map[[2]string]*Import{}}
}

// add records f once per (member, kind, module, name, reason).
func (s *sink) add(f Finding) {
	s.verdict = max(s.verdict, f.Verdict)
	key := strings.Join([]string{f.Member, string(f.Kind), f.Module, f.Name, f.Reason}, "\x00")
	if s.seen[key] {
		return
	}
	if len(s.findings) >= s.lim.MaxFindings {
		s.dropped++
		return
	}
	s.seen[key] = true
	s.findings = append(s.findings, f)
}

func (s *sink) addImport(module, name string, v Verdict) {
	k := [2]string{module, name}
	if im, ok := s.imports[k]; ok {
		im.Count++
		return
	}
	if len(s.imports) >= s.lim.MaxFindings*16 {
		return
	}
	s.imports[k] = &Import{Module: module, Name: name, Verdict: v, Count: 1}
}

func (s *sink) report(f Format, read int64) Report {
	r := Report{Verdict: s.verdict, Format: f, Findings: s.findings, Pickles: s.pickles, BytesRead: read}
	if s.dropped > 0 {
		r.Findings = append(r.Findings, Finding{Kind: KindLimit, Verdict: s.verdict,
			Reason: fmt.Sprintf("%d more findings not listed", s.dropped)})
	}
	for _, im := range s.imports {
		r.Imports = append(r.Imports, *im)
	}
	sort.Slice(r.Imports, func(i, j int) bool {
		a, b := r.Imports[i], r.Imports[j]
		if a.Module != b.Module {
			return a.Module < b.Module
		}
		return a.Name < b.Name
	})
	return r
}
