package manifest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// Kind is the repository namespace: model or dataset.
type Kind string

const (
	Model   Kind = "model"
	Dataset Kind = "dataset"
)

// ParseKind accepts "model", "dataset" and their plural API forms; empty
// means model.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "", "model", "models":
		return Model, nil
	case "dataset", "datasets":
		return Dataset, nil
	}
	return "", fmt.Errorf("repo type %q: want model or dataset", s)
}

// Plural is the form the Hub uses in API paths ("models", "datasets").
func (k Kind) Plural() string { return string(k) + "s" }

// Version is the manifest format version written by this package.
const Version = 1

// MaxSize bounds an encoded manifest; a decoder refuses anything larger
// before parsing.
const MaxSize = 64 << 20

// MaxFiles bounds the number of files in one revision.
const MaxFiles = 1 << 20

// File is one path of a revision.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// BlobID is the git blob id the Hub reports: of the bytes for a small
	// file, of the LFS pointer file for a large one.
	BlobID string  `json:"blob_id"`
	LFS    bool    `json:"lfs"`
	CID    cid.Cid `json:"cid"`
}

// Signature is a publisher's ed25519 signature over SigningBytes.
type Signature struct {
	// Key is the signer's public key in text form (see package sovereignty).
	Key string `json:"key"`
	Sig []byte `json:"sig"`
}

// Manifest is one revision of a repository.
type Manifest struct {
	Version int    `json:"version"`
	Type    Kind   `json:"type"`
	Repo    string `json:"repo"`
	Commit  string `json:"commit"`
	// Created is when the revision was made (upstream's lastModified when
	// mirrored); millisecond precision, UTC.
	Created    time.Time   `json:"created"`
	Root       cid.Cid     `json:"root"`
	Files      []File      `json:"files"`
	Signatures []Signature `json:"signatures,omitempty"`
}

// Errors a caller may test for.
var (
	ErrInvalid   = errors.New("invalid manifest")
	ErrRepoName  = errors.New("invalid repo name")
	ErrPath      = errors.New("invalid file path")
	ErrNotCanon  = errors.New("manifest is not in canonical form")
	ErrTooLarge  = errors.New("manifest too large")
	ErrCommitHex = errors.New("commit must be 40 lowercase hex digits")
)

// ValidateRepo checks an "org/name" repository id the way the Hub does:
// two parts, each 1–96 characters of letters, digits, '-', '_', '.', not
// starting or ending with '.' or '-', no "..".
func ValidateRepo(repo string) error {
	if repo == "" {
		return fmt.Errorf("%w: empty", ErrRepoName)
	}
	if len(repo) > 200 {
		return fmt.Errorf("%w: %d characters, at most 200", ErrRepoName, len(repo))
	}
	org, name, ok := strings.Cut(repo, "/")
	if !ok || strings.Contains(name, "/") {
		return fmt.Errorf("%w %q: want ORG/NAME", ErrRepoName, repo)
	}
	for _, part := range []string{org, name} {
		if err := validatePart(part); err != nil {
			return fmt.Errorf("%w %q: %v", ErrRepoName, repo, err)
		}
	}
	return nil
}

func validatePart(p string) error {
	if p == "" {
		return errors.New("empty part")
	}
	if len(p) > 96 {
		return errors.New("part longer than 96 characters")
	}
	if strings.Contains(p, "..") || strings.Contains(p, "--") {
		return errors.New(`"..", "--" not allowed`)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case c == '-' || c == '.':
			if i == 0 || i == len(p)-1 {
				return fmt.Errorf("%q at start or end", c)
			}
		default:
			return fmt.Errorf("character %q not allowed", c)
		}
	}
	return nil
}

// ValidatePath checks a file path inside a revision: relative, slash
// separated, clean, valid UTF-8, no "." or ".." elements, no NUL.
func ValidatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty", ErrPath)
	case len(p) > 4096:
		return fmt.Errorf("%w: longer than 4096 bytes", ErrPath)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w %q: not UTF-8", ErrPath, p)
	case strings.ContainsAny(p, "\x00\\"):
		return fmt.Errorf("%w %q: NUL or backslash", ErrPath, p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%w %q: absolute", ErrPath, p)
	case path.Clean(p) != p:
		return fmt.Errorf("%w %q: not clean", ErrPath, p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == "." || el == ".." {
			return fmt.Errorf("%w %q: %q element", ErrPath, p, el)
		}
	}
	return nil
}

// ValidateCommit checks a 40-hex commit id.
func ValidateCommit(c string) error {
	if len(c) != 40 || !isLowerHex(c) {
		return fmt.Errorf("%w: %q", ErrCommitHex, c)
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Validate checks every field and the order of files.
func (m *Manifest) Validate() error {
	if m.Version != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrInvalid, m.Version, Version)
	}
	if m.Type != Model && m.Type != Dataset {
		return fmt.Errorf("%w: type %q", ErrInvalid, m.Type)
	}
	if err := ValidateRepo(m.Repo); err != nil {
		return err
	}
	if err := ValidateCommit(m.Commit); err != nil {
		return err
	}
	if !m.Root.Defined() {
		return fmt.Errorf("%w: no root CID", ErrInvalid)
	}
	if len(m.Files) > MaxFiles {
		return fmt.Errorf("%w: %d files, at most %d", ErrInvalid, len(m.Files), MaxFiles)
	}
	for i, f := range m.Files {
		if err := ValidatePath(f.Path); err != nil {
			return err
		}
		if i > 0 && m.Files[i-1].Path >= f.Path {
			return fmt.Errorf("%w: files not sorted or duplicate at %q", ErrInvalid, f.Path)
		}
		if f.Size < 0 {
			return fmt.Errorf("%w: %s: negative size", ErrInvalid, f.Path)
		}
		if len(f.SHA256) != 64 || !isLowerHex(f.SHA256) {
			return fmt.Errorf("%w: %s: sha256 must be 64 lowercase hex digits", ErrInvalid, f.Path)
		}
		if len(f.BlobID) != 40 || !isLowerHex(f.BlobID) {
			return fmt.Errorf("%w: %s: blob_id must be 40 lowercase hex digits", ErrInvalid, f.Path)
		}
		if !f.CID.Defined() {
			return fmt.Errorf("%w: %s: no CID", ErrInvalid, f.Path)
		}
	}
	// A file may not also be a directory of another ("a" and "a/b").
	for i := 1; i < len(m.Files); i++ {
		prev := m.Files[i-1].Path
		for j := i; j < len(m.Files) && strings.HasPrefix(m.Files[j].Path, prev); j++ {
			if strings.HasPrefix(m.Files[j].Path, prev+"/") {
				return fmt.Errorf("%w: %q is both a file and a directory", ErrInvalid, prev)
			}
		}
	}
	return nil
}

// Sort orders files by path, as the canonical form requires.
func (m *Manifest) Sort() {
	slices.SortFunc(m.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
}

// File returns the file at path p.
func (m *Manifest) File(p string) (File, bool) {
	i, ok := slices.BinarySearchFunc(m.Files, p, func(f File, p string) int { return strings.Compare(f.Path, p) })
	if !ok {
		return File{}, false
	}
	return m.Files[i], true
}

// TotalSize is the sum of file sizes.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Encode returns the canonical bytes. It fails when the manifest is invalid.
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m.encode()
}

func (m *Manifest) encode() ([]byte, error) {
	c := *m
	c.Created = c.Created.UTC().Truncate(time.Millisecond)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode parses canonical bytes, validating every field. Bytes that parse
// but are not exactly what Encode would write are refused, so no two
// encodings name the same manifest.
func Decode(b []byte) (*Manifest, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalid)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	again, err := m.encode()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, ErrNotCanon
	}
	return &m, nil
}

// SigningBytes are the bytes a publisher signs: the canonical encoding
// without signatures, after a domain separator.
func (m *Manifest) SigningBytes() ([]byte, error) {
	c := *m
	c.Signatures = nil
	b, err := c.Encode()
	if err != nil {
		return nil, err
	}
	return append([]byte("cairn-manifest-v1\n"), b...), nil
}

// DeriveCommit computes the commit id of a locally added revision: the
// first 40 hex digits of sha256 over the canonical encoding with commit,
// creation time and signatures left out, so the same files give the same
// commit whenever they are added.
func (m *Manifest) DeriveCommit() (string, error) {
	c := *m
	c.Commit = strings.Repeat("0", 40)
	c.Created = time.Time{}
	c.Signatures = nil
	b, err := c.Encode()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte("cairn-commit-v1\n"), b...))
	return hex.EncodeToString(sum[:20]), nil
}

// GitBlobID is the git object id of a blob with this content: sha1 over
// "blob <len>\x00" and the bytes.
func GitBlobID(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// LFSPointer is the git-lfs pointer file the Hub stores in git for a large
// file.
func LFSPointer(sha256Hex string, size int64) []byte {
	return fmt.Appendf(nil, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha256Hex, size)
}

// LFSThreshold is the size from which a file is stored as LFS when added
// locally, as the Hub does for files over 10 MB.
const LFSThreshold = 10 << 20

// lfsSuffixes are the patterns of the Hub's default .gitattributes.
var lfsSuffixes = []string{
	".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gguf", ".gz", ".h5", ".joblib",
	".mlmodel", ".model", ".msgpack", ".npy", ".npz", ".onnx", ".ot", ".parquet", ".pb",
	".pickle", ".pkl", ".pt", ".pth", ".rar", ".safetensors", ".tar", ".tflite", ".tgz",
	".wasm", ".xz", ".zip", ".zst",
}

// IsLFS reports whether a locally added file would be LFS on the Hub.
func IsLFS(p string, size int64) bool {
	if size >= LFSThreshold {
		return true
	}
	lp := strings.ToLower(p)
	for _, s := range lfsSuffixes {
		if strings.HasSuffix(lp, s) {
			return true
		}
	}
	return false
}

// NewBlobHash starts a git blob id over content of the given size, for
// streaming; hex.EncodeToString(h.Sum(nil)) is the id.
func NewBlobHash(size int64) hash.Hash {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", size)
	return h
}

// BlobIDOf is the blob id the Hub reports for a file: of the LFS pointer
// for a large file, else of the content (whose git blob id the caller
// computed with NewBlobHash).
func BlobIDOf(lfs bool, sha256Hex string, size int64, contentBlobID string) string {
	if lfs {
		return GitBlobID(LFSPointer(sha256Hex, size))
	}
	return contentBlobID
}
