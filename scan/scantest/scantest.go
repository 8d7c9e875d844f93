// Package scantest builds scanner inputs for tests and benchmarks.
//
// Words:
//   - Checkpoint: a torch.save-shaped zip built from the scan corpus's
//     benign_torch.pt: its real data.pkl (two storages, keys "0" and "1")
//     with stored tensor data of a chosen size, read from a chosen source,
//     split between them.
package scantest

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/cairnhub/cairn/internal/fixture"
)

// WriteCheckpoint writes a checkpoint to path with tensorBytes of tensor
// data read from data (zeros, or random bytes where a store must not
// deduplicate them).
func WriteCheckpoint(tb testing.TB, path string, tensorBytes int64, data io.Reader) {
	tb.Helper()
	src, err := os.ReadFile(fixture.Path(tb, "scan/benign_torch.pt"))
	if err != nil {
		tb.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, m := range zr.File {
		if err := copyMember(zw, m, data, tensorBytes/2); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
}

// copyMember stores m in zw: a tensor storage's n bytes from data, any
// other member as it is.
func copyMember(zw *zip.Writer, m *zip.File, data io.Reader, n int64) error {
	w, err := zw.CreateHeader(&zip.FileHeader{Name: m.Name, Method: zip.Store})
	if err != nil {
		return err
	}
	if m.Name == "archive/data/0" || m.Name == "archive/data/1" {
		_, err = io.CopyN(w, data, n)
		return err
	}
	rc, err := m.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}
