package models

import (
	"fmt"
	"strings"

	"github.com/cairnhub/cairn/inference/openai"
	"github.com/cairnhub/cairn/ingest"
	"github.com/cairnhub/cairn/manifest"
)

// ID is a parsed model id: ORG/NAME[@REV][/FILE.gguf].
type ID struct {
	Repo, Rev, File string
}

// ParseID splits a model id. Rev defaults to "main"; File is "" when
// the id does not name one.
func ParseID(id string) (ID, error) {
	parts := strings.SplitN(id, "/", 3)
	if len(parts) < 2 {
		return ID{}, fmt.Errorf("model id %q: want ORG/NAME[@REV][/FILE.gguf]", id)
	}
	name, rev, hasRev := strings.Cut(parts[1], "@")
	m := ID{Repo: parts[0] + "/" + name, Rev: "main"}
	if hasRev {
		m.Rev = rev
	}
	if err := manifest.ValidateRepo(m.Repo); err != nil {
		return ID{}, fmt.Errorf("model id %q: %w", id, err)
	}
	if err := ingest.ValidateRevision(m.Rev); err != nil {
		return ID{}, fmt.Errorf("model id %q: %w", id, err)
	}
	if len(parts) == 3 {
		m.File = parts[2]
		if err := manifest.ValidatePath(m.File); err != nil {
			return ID{}, fmt.Errorf("model id %q: %w", id, err)
		}
	}
	return m, nil
}

func isGGUF(p string) bool { return strings.HasSuffix(strings.ToLower(p), ".gguf") }

// GGUFFiles are the GGUF files of a revision.
func GGUFFiles(m *manifest.Manifest) []manifest.File {
	var out []manifest.File
	for _, f := range m.Files {
		if isGGUF(f.Path) {
			out = append(out, f)
		}
	}
	return out
}

// Pick is the file mid names, or the revision's only GGUF file.
func Pick(m *manifest.Manifest, mid ID) (manifest.File, error) {
	if mid.File != "" {
		f, ok := m.File(mid.File)
		if !ok {
			return f, fmt.Errorf("%w: %s@%s has no file %s", openai.ErrModelNotFound, mid.Repo, mid.Rev, mid.File)
		}
		if !isGGUF(f.Path) {
			return f, fmt.Errorf("%w: %s in %s is not a GGUF file", openai.ErrModelNotFound, mid.File, mid.Repo)
		}
		return f, nil
	}
	files := GGUFFiles(m)
	switch len(files) {
	case 1:
		return files[0], nil
	case 0:
		return manifest.File{}, fmt.Errorf("%w: %s@%s holds no GGUF file", openai.ErrModelNotFound, mid.Repo, mid.Rev)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = mid.Repo + "/" + f.Path
	}
	return manifest.File{}, fmt.Errorf("%w: %s@%s holds %d GGUF files; name one: %s", openai.ErrModelNotFound, mid.Repo, mid.Rev, len(files), strings.Join(names, ", "))
}
