//go:build !unix

package gguf

import "os"

func mmapFile(fd *os.File, size int64) ([]byte, func() error, bool) { return nil, nil, false }
