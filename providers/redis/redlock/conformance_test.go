package redlock_test

import (
	"context"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/locktest"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// TestRedlockConformance runs the kit against Redlock on three masters. The
// outage stops all three. (With two of three stopped while the key is held on
// the third, Redlock reports contention where the kit wants unavailability:
// the one node left still answers "taken".) WithFIFO is declared: a
// provider's waiters queue in arrival order, only the head asks the nodes,
// and a Release of the same provider wakes that head (15 of 15 runs of the
// kit's FIFO check under -race on a busy machine). Across provider instances
// there is no order: whoever reaches a majority first after a release wins.
func TestRedlockConformance(t *testing.T) {
	ns := startRedlockNodes(t, 3)
	// NodeTimeout 1s, not the default TTL/10 (200ms), which a node's
	// answer on a busy machine may miss: that attempt is then an outage,
	// and the kit's exclusion check fails on it.
	opts := &redlock.Options{TTL: 2 * time.Second, DialTimeout: time.Second, NodeTimeout: time.Second}
	locktest.Run(t,
		func(t *testing.T) locking.Provider { return ns.redlock(t, opts) },
		locktest.WithUnreachable(func(t *testing.T) locking.Provider {
			dead := &rlNodes{addrs: []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}}
			return dead.redlock(t, opts)
		}),
		locktest.WithForget(func(t *testing.T, key string) {
			lock, _ := ns.redlock(t, opts).StorageKeys(key)
			for _, c := range ns.peek {
				if err := c.Del(context.Background(), lock).Err(); err != nil {
					t.Fatalf("DEL %s: %v", lock, err)
				}
			}
		}),
		locktest.WithOutage(
			func(*testing.T) { stopAll(ns.srvs) },
			func(*testing.T) { restartAll(ns.srvs) },
		),
		locktest.WithLostWithin(10*time.Second),
		locktest.WithFIFO(),
		locktest.WithLeakOptions(leakOptions...),
	)
}
