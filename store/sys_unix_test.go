//go:build unix

package store_test

import "syscall"

func syncDisks() { syscall.Sync() }
