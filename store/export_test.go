package store

// SetReleaseEvery lets tests exercise releaseMapped on every access.
func SetReleaseEvery(n int64) (restore func()) {
	old := releaseEvery
	releaseEvery = n
	return func() { releaseEvery = old }
}
