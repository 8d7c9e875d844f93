package openai

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"
)

// Files serves GGUF files named directly: model id → file path. It is the
// Models of a server without a store (and of this package's tests).
type Files map[string]string

// List returns the ids in order, dated by the files' modification times.
func (f Files) List(_ context.Context) ([]ModelEntry, error) {
	out := make([]ModelEntry, 0, len(f))
	for id, path := range f {
		var created time.Time
		if st, err := os.Stat(path); err == nil {
			created = st.ModTime()
		}
		out = append(out, ModelEntry{ID: id, Created: created})
	}
	slices.SortFunc(out, func(a, b ModelEntry) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// Locate returns the path of id.
func (f Files) Locate(_ context.Context, id string) (string, error) {
	path, ok := f[id]
	if !ok {
		return "", fmt.Errorf("%q: %w", id, ErrModelNotFound)
	}
	return path, nil
}
