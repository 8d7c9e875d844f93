package gguf

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// Open parses the GGUF file at path. On unix the file is memory-mapped, so
// TensorData returns slices of the mapping without copying; elsewhere the
// file is read through its descriptor. Close the File when done.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	st, err := fd.Stat()
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("gguf: %w", err)
	}
	size := st.Size()
	if data, unmap, ok := mmapFile(fd, size); ok {
		fd.Close()
		f, err := parse(bytes.NewReader(data), size)
		if err != nil {
			unmap()
			return nil, fmt.Errorf("gguf %s: %w", path, err)
		}
		f.data = data
		f.setCloser(unmap)
		return f, nil
	}
	f, err := parse(fd, size)
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("gguf %s: %w", path, err)
	}
	f.r = fd
	f.setCloser(fd.Close)
	return f, nil
}

// OpenResident parses the GGUF file at path after copying it into memory:
// on Linux into anonymous memory backed by transparent huge pages (the
// file's page cache is dropped behind the copy, so the weights are held
// once), elsewhere into the Go heap. Opening reads the whole file; in return
// streaming the weights (decode) suffers far fewer TLB misses than through a
// mapping of 4 KiB file pages. Close the File when done.
func OpenResident(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f, err := ReadResident(fd, st.Size())
	if err != nil {
		return nil, fmt.Errorf("gguf %s: %w", path, err)
	}
	return f, nil
}

// ReadResident is OpenResident for a file of size bytes read through r.
func ReadResident(r io.ReaderAt, size int64) (*File, error) {
	// Parse the header first so a malformed file is refused before a
	// file-sized allocation.
	if _, err := parse(r, size); err != nil {
		return nil, err
	}
	data, release, err := readResident(r, size)
	if err != nil {
		return nil, err
	}
	f, err := parse(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		release()
		return nil, err
	}
	f.data = data
	f.owned = true
	f.setCloser(release)
	return f, nil
}

// Owned reports whether TensorData returns slices of a private copy of the
// file that the caller may rearrange (OpenResident, ReadResident), rather
// than of a read-only mapping or of bytes someone else holds.
func (f *File) Owned() bool { return f.owned }

// ReadBytes parses a GGUF file held in memory. Tensor data returned by
// TensorData aliases b.
func ReadBytes(b []byte) (*File, error) {
	f, err := parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	f.data = b
	return f, nil
}
