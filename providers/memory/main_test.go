package memory_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// provider itself must never start one.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
