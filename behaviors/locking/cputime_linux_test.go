package locking_test

import (
	"syscall"
	"time"
	"unsafe"
)

// Linux's clock ids for the CPU time of the process and of the calling
// thread, which the kernel keeps to the nanosecond.
const (
	clockProcessCPUTime = 2
	clockThreadCPUTime  = 3
)

// cpuTimes reports whether threadCPU and processCPU measure anything.
const cpuTimes = true

// threadCPU returns the CPU time the calling OS thread has used.
func threadCPU() time.Duration { return cpuClock(clockThreadCPUTime) }

// processCPU returns the CPU time every thread of the process has used,
// the garbage collector's included.
func processCPU() time.Duration { return cpuClock(clockProcessCPUTime) }

func cpuClock(id uintptr) time.Duration {
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
