package store

import (
	"fmt"
	"os"
	"path/filepath"
)

// dropEmptyMemtables removes zero-length memtable files (*.mem) from dir.
// Badger creates a memtable file and then sizes it; a process killed in
// between leaves an empty file that holds no entry but that badger refuses
// to open ("while opening fid: N err: Create a new file").
func dropEmptyMemtables(dir string) error {
	ms, err := filepath.Glob(filepath.Join(dir, "*.mem"))
	if err != nil {
		return err
	}
	for _, m := range ms {
		fi, err := os.Stat(m)
		if err != nil || fi.Size() != 0 {
			continue
		}
		if err := os.Remove(m); err != nil {
			return fmt.Errorf("remove empty memtable %s: %w", m, err)
		}
	}
	return nil
}
