//go:build !linux

package gguf

import (
	"fmt"
	"io"
)

func readResident(r io.ReaderAt, size int64) ([]byte, func() error, error) {
	if size < 0 || int64(int(size)) != size {
		return nil, nil, fmt.Errorf("file size %d cannot be held in memory", size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(r, 0, size), data); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
