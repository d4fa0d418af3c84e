package memory_test

import (
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/locktest"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// TestConformance runs the provider conformance kit. The in-memory
// provider's "backend" is the provider itself, so every instance the kit asks
// for is the same one; it serves waiters first come, first served.
func TestConformance(t *testing.T) {
	p := memory.New()
	locktest.Run(t, func(*testing.T) locking.Provider { return p }, locktest.WithFIFO())
}
