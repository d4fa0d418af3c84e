//go:build !linux

package locking_test

import "time"

const cpuTimes = false

func threadCPU() time.Duration  { return 0 }
func processCPU() time.Duration { return 0 }
