package disk

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestFree(t *testing.T) {
	dir := t.TempDir()
	n, err := Free(dir)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && n <= 0 {
		t.Errorf("Free(%s) = %d, want the free bytes of a file system with room for a temporary directory", dir, n)
	}
	if _, err := Free(filepath.Join(dir, "missing")); err == nil && n >= 0 {
		t.Errorf("Free of a missing path = nil error")
	}
}

func TestAllocated(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// 64 MiB with one written block: a sparse file on every Unix file
	// system the tests run on, its full size elsewhere.
	if _, err := f.WriteAt(make([]byte, 4096), 64<<20); err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	got := Allocated(fi)
	if got <= 0 || got > fi.Size() {
		t.Errorf("Allocated = %d, want between 1 and the size %d", got, fi.Size())
	}
}
