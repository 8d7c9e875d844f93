package tensor

import (
	"syscall"
	"time"
	"unsafe"
)

// processCPU returns the CPU time the process has used (all threads), so
// benchmarks can report a rate per CPU-second that other load on a shared
// machine does not distort.
func processCPU() time.Duration {
	var ts syscall.Timespec
	const clockProcessCPUTimeID = 2
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockProcessCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
