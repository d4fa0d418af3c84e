package locking

import (
	"testing"
	"time"
)

var benchDuration time.Duration

// BenchmarkClock is one clock read, what an observed Send pays twice (see
// docs/benchmarks.md: it sets the floor of the observer contract's cost).
func BenchmarkClock(b *testing.B) {
	for b.Loop() {
		benchDuration = clock()
	}
}
