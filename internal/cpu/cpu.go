//go:build unix

package cpu

import (
	"syscall"
	"time"
)

// Used returns the CPU time the process has used so far, user and system,
// or zeros where the kernel does not say.
func Used() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
