package etcd_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/locktest"
)

// TestConformance runs the provider conformance kit against one etcd
// member: each provider the kit asks for has a client of its own.
func TestConformance(t *testing.T) {
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	peek := newClient(t, ep)
	locktest.Run(t,
		func(t *testing.T) locking.Provider { return newProvider(t, testOptions(), ep) },
		locktest.WithFIFO(),
		locktest.WithUnreachable(func(t *testing.T) locking.Provider {
			return newProvider(t, testOptions(), "127.0.0.1:1")
		}),
		locktest.WithForget(func(t *testing.T, key string) {
			queue := newProvider(t, testOptions(), ep).QueuePrefix(key)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := peek.Delete(ctx, queue, clientv3.WithPrefix()); err != nil {
				t.Fatalf("deleting %s: %v", queue, err)
			}
		}),
		locktest.WithOutage(func(*testing.T) { c.Members[0].Stop() }, func(*testing.T) {
			c.Members[0].Start()
			c.Members[0].WaitHealthy()
		}),
		locktest.WithLostWithin(10*time.Second),
		locktest.WithLeakOptions(leakOptions...),
	)
}
