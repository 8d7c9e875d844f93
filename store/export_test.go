package store

import "github.com/cairnhub/cairn/internal/disk"

// SetReleaseEvery lets tests exercise releaseMapped on every access.
func SetReleaseEvery(n int64) (restore func()) {
	old := releaseEvery
	releaseEvery = n
	return func() { releaseEvery = old }
}

// OpenSmallLog opens a store whose value-log files are only logSize bytes
// (below what Validate allows), so tests see value-log GC at work on a few
// MiB.
func OpenSmallLog(dir string, logSize int64) (*Store, error) {
	// Its callers name blocks by counter, not content (newBlockSource).
	o := Options{Dir: dir, TrustReads: true}.withDefaults()
	o.ValueLogFileSize = logSize
	return open(o)
}

// Allocated is the disk space a file takes (sparse files count what they
// hold), as Stat.DiskBytes counts it.
var Allocated = disk.Allocated
