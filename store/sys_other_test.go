//go:build !unix

package store_test

import (
	"io/fs"
	"time"
)

func cpuTime() time.Duration { return 0 }

func syncDisks() {}

func allocated(fi fs.FileInfo) int64 { return fi.Size() }
