//go:build !linux

package store

import "sync"

// prefaulter is Linux-only (MADV_POPULATE_WRITE); elsewhere it is nil and
// does nothing.
type prefaulter struct{}

func startPrefaulter(string, *sync.RWMutex) *prefaulter { return nil }
func (p *prefaulter) poke(int64)                        {}
func (p *prefaulter) close()                            {}
