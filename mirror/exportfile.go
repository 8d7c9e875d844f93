package mirror

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cairnhub/cairn/internal/direct"
	"github.com/cairnhub/cairn/store"
)

// ExportFile writes the bundle of revs to path, whole or not at all: into
// a temporary file beside it, with direct I/O (a bundle is written to be
// carried away, not read back here, and fresh page-cache pages cost more
// than the writing; see package direct), synced, then renamed over path.
func ExportFile(ctx context.Context, st *store.Store, path string, revs []Rev, o ExportOptions) (*ExportResult, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("bundle export: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	w := direct.NewWriter(tmp, 0)
	res, err := Export(ctx, st, w, revs, o)
	if err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("bundle export %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("bundle export %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("bundle export %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("bundle export %s: %w", path, err)
	}
	return res, nil
}
