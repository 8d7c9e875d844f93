package store_test

import (
	"testing"

	"github.com/cairnhub/cairn/store"
	"github.com/cairnhub/cairn/store/storetest"
)

func openDisk(t *testing.T) *store.Store {
	s, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openMem(t *testing.T) *store.Store {
	s, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuiteDisk(t *testing.T)     { storetest.Run(t, openDisk) }
func TestSuiteInMemory(t *testing.T) { storetest.Run(t, openMem) }

// TestSuiteReleasing runs the suite with the value-log mappings released
// after every access, so every read and write races a release.
func TestSuiteReleasing(t *testing.T) {
	defer store.SetReleaseEvery(1)()
	storetest.Run(t, openDisk)
}
