package bom

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Input is everything a BOM states about one revision. The node fills it from
// the manifest, the stored model card, the scan record and the replica map.
type Input struct {
	// Repo is "ORG/NAME"; Revision the revision id the BOM describes.
	Repo     string
	Revision string
	// Kind is "model" (default) or "dataset".
	Kind  string
	Files []File
	// Card is the model card's YAML front matter (see ParseCard).
	Card map[string]any
	// GGUF and Config carry header facts when the revision has them.
	GGUF   *GGUF
	Config *Config
	// Licenses found outside the card (a LICENSE file); the card's
	// licence ids are added to these.
	Licenses   []License
	Scan       *Scan
	Signatures []Signature
	Upstream   *Upstream
	Holders    []Holder
	// Time stamps the BOM. Default now.
	Time time.Time
	// ToolVersion is Cairn's version. Default "dev".
	ToolVersion string
}

// File is one file of the revision.
type File struct {
	Path   string
	SHA256 string // lower-case hex
	Size   int64
	// Scan is this file's scan result, if it was scanned.
	Scan *FileScan
}

// FileScan is a scanner's verdict on one file.
type FileScan struct {
	Verdict  string   // e.g. "safe", "unsafe", "unknown"
	Findings []string // e.g. imports found: "os.system"
}

// GGUF holds facts read from a GGUF header.
type GGUF struct {
	File           string // the GGUF file's path
	Architecture   string // general.architecture, e.g. "llama"
	Name           string // general.name
	FileType       string // quantisation, e.g. "Q4_K_M" or "F32"
	ParameterCount int64  // sum of tensor element counts
	ContextLength  int64
}

// License is one licence of the revision.
type License struct {
	ID     string // Hub or SPDX id, e.g. "apache-2.0", "llama3.2"
	Name   string // when there is no id
	URL    string
	Source string // where it was found, e.g. "model card", "LICENSE"
}

// Scan is the revision's compliance verdict.
type Scan struct {
	Verdict     string // overall: "safe", "unsafe", "unknown"
	Policy      string // the rule applied, e.g. "block", "block-unknown", "warn"
	Scanner     string // scanner name and version
	Time        time.Time
	Quarantined bool
	Reason      string // why it is quarantined
	ReleasedBy  string // who lifted a quarantine, if anyone
}

// Signature is one publisher signature over the revision.
type Signature struct {
	Format   string // "openssf-model-signing" or "cairn"
	Method   string // "key" or "certificate"
	Signer   string // identity or key id
	Issuer   string
	File     string // where the signature is stored, e.g. "model.sig"
	Verified bool
}

// Upstream is where the revision was mirrored from.
type Upstream struct {
	URL        string // e.g. https://huggingface.co/ORG/NAME
	Revision   string // upstream commit
	MirroredAt time.Time
}

// Holder is a peer holding a replica of the revision.
type Holder struct {
	Peer         string
	Jurisdiction string // e.g. ISO 3166 code "DE", or "EU"
}

// Validate checks what Build relies on.
func (in *Input) Validate() error {
	org, name, ok := strings.Cut(in.Repo, "/")
	if !ok || org == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("repo %q is not ORG/NAME", in.Repo)
	}
	if in.Revision == "" {
		return errors.New("no revision")
	}
	if in.Kind != "" && in.Kind != "model" && in.Kind != "dataset" {
		return fmt.Errorf("kind %q is neither model nor dataset", in.Kind)
	}
	seen := make(map[string]bool, len(in.Files))
	for _, f := range in.Files {
		if f.Path == "" || seen[f.Path] {
			return fmt.Errorf("file path %q empty or repeated", f.Path)
		}
		seen[f.Path] = true
		if d, err := hex.DecodeString(f.SHA256); err != nil || len(d) != 32 {
			return fmt.Errorf("file %q: sha256 %q is not 64 hex digits", f.Path, f.SHA256)
		}
	}
	return nil
}
