// Package atomicfile replaces small files whole: a reader sees the old
// content or the new, never a mix, even across a crash. The node's home
// files (certificate, policy, pins) are written this way.
//
// Words:
//   - Replace: write a temp file beside the target, fsync it, rename it
//     over the target (rename is atomic within one file system).
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with b, mode mode, atomically.
func Write(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
