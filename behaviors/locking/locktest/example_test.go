package locktest_test

import (
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/locktest"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// A provider's own test runs the kit with a factory of providers on one
// shared backend. Here the in-memory provider, whose backend is itself; a
// networked provider opens a new client per call and registers its Close
// with t.Cleanup, and declares what it can do: locktest.WithUnreachable,
// locktest.WithForget, locktest.WithOutage, locktest.WithFIFO.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		shared := memory.New()
		locktest.Run(t,
			func(*testing.T) locking.Provider { return shared },
			locktest.WithFIFO(),
		)
	}
	_ = testConformance // in a _test.go file: func TestConformance(t *testing.T) { ... }
}
