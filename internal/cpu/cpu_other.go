//go:build !unix

package cpu

import "time"

// Used returns zeros: the process's CPU time is read on Unix only.
func Used() (user, sys time.Duration) { return 0, 0 }
