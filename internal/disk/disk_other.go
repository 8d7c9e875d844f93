//go:build !unix

package disk

import "io/fs"

// Free returns -1: free space is read on Unix only.
func Free(string) (int64, error) { return -1, nil }

// Allocated returns the file's size: allocated blocks are read on Unix only.
func Allocated(fi fs.FileInfo) int64 { return fi.Size() }
