package mediator_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: a
// parallel Publish must wait for every handler it started.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
