package storetest

import (
	"testing"

	"github.com/cairnhub/cairn/store"
)

// Open opens a badger store in a temporary directory of t, closed when the
// test ends: the store other packages' tests run against.
func Open(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
