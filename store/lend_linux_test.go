package store

import (
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadMappedFault: reading a mapping past its file's end, as after a
// pack is cut short behind the store's back, is an error, not a crash.
func TestReadMappedFault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, noise(1, 3*4096), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, 3*4096, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	var sum byte
	read := func(b []byte) func() error {
		return func() error {
			for _, c := range b {
				sum += c
			}
			return nil
		}
	}
	if err := readMapped(read(m[:4096])); err != nil {
		t.Fatalf("reading the page still in the file = %v", err)
	}
	if err := readMapped(read(m[4096:])); !errors.Is(err, errFault) {
		t.Fatalf("reading pages past the file's end = %v, want errFault", err)
	}
	if debug.SetPanicOnFault(false) {
		t.Error("readMapped left SetPanicOnFault on")
	}
}
