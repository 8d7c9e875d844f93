//go:build !unix

package store_test

import "io/fs"

func syncDisks() {}

func allocated(fi fs.FileInfo) int64 { return fi.Size() }
