package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/locktest"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// conformanceOptions gives the providers under the kit a short lease, so a
// lost lock shows within the kit's bound, and a short dial timeout, so an
// unreachable server is reported within its slack.
var conformanceOptions = &redislocks.Options{TTL: 2 * time.Second, DialTimeout: time.Second}

// TestConformance runs the provider conformance kit against the single-Redis
// provider: several providers, each on a client of its own, share one
// redis-server. WithFIFO is declared: a provider's waiters for a key queue
// in arrival order and only the head talks to Redis, and a Release of the
// same provider hands the lock to that head in its script (the kit's FIFO
// check passed 15 of 15 runs under -race on a busy machine). FIFO holds
// within one provider instance only: across instances, whoever asks first
// after a release wins.
func TestConformance(t *testing.T) {
	srv := start(t)
	peek := newClient(t, srv.Addr())
	locktest.Run(t,
		func(t *testing.T) locking.Provider { return newProvider(t, srv.Addr(), conformanceOptions) },
		locktest.WithUnreachable(func(t *testing.T) locking.Provider {
			return newProvider(t, "127.0.0.1:1", conformanceOptions)
		}),
		locktest.WithForget(func(t *testing.T, key string) {
			p := newProvider(t, srv.Addr(), conformanceOptions)
			lock, _ := p.StorageKeys(key)
			if err := peek.Del(context.Background(), lock).Err(); err != nil {
				t.Fatalf("DEL %s: %v", lock, err)
			}
		}),
		locktest.WithOutage(func(*testing.T) { srv.Stop() }, func(*testing.T) { srv.Restart() }),
		locktest.WithLostWithin(10*time.Second),
		locktest.WithFIFO(),
		locktest.WithLeakOptions(leakOptions...),
	)
}
