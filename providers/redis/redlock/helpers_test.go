package redlock_test

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// leakOptions lists the libraries' own goroutines that may outlive a test:
//   - after repeated dial failures go-redis probes the server from a
//     goroutine that sleeps 1s between probes and notices a closed client
//     only after its sleep (bounded);
//   - toxiproxy's pass-through stage can stay blocked handing on a chunk
//     when its link is torn down with data in flight (inside the library,
//     which offers no way to wait for it).
var leakOptions = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
}

// newClient returns a go-redis client for addr, closed at cleanup, with the
// settings the provider's own registrations use.
func newClient(t testing.TB, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{
		Addr:                  addr,
		DialTimeout:           time.Second,
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
		DialerRetries:         1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// within fails the test if d is not in [lo, hi].
func within(t testing.TB, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Fatalf("%s took %s, want between %s and %s", what, d, lo, hi)
	}
}

// waitFor polls cond every millisecond for up to 10s: for states that
// only Redis or the provider can show (a subscription counted, a waiter
// queued), where no channel exists to wait on.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
