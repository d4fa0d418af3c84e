package redlock_test

import (
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// TestRedlockDistinctKeysLeaveNothingBehind is the same on every node of a
// Redlock provider (2,000 keys: each costs two rounds to three nodes).
func TestRedlockDistinctKeysLeaveNothingBehind(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	// Generous node timeouts: the property is not about time, and a busy
	// machine answers 64 parallel fan-outs slowly.
	r := ns.redlock(t, &redlock.Options{TTL: 10 * time.Second, NodeTimeout: 3 * time.Second, FenceRetention: 100 * time.Millisecond})
	redistesting.LockDistinctKeys(t, r, 2_000, 4)
	redistesting.WaitForDBSize(t, 0, ns.peek...)
}
