package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
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

// noLeaks checks, after every other cleanup of the test (servers, clients,
// providers), that no goroutine is left behind.
func noLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		goleak.VerifyNone(t, leakOptions...)
	})
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

// newProvider returns a provider on its own client to srv, both closed at
// cleanup.
func newProvider(t testing.TB, addr string, opts *redislocks.Options) *redislocks.Provider {
	t.Helper()
	p, err := redislocks.New(newClient(t, addr), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// start launches a redis-server for the test.
func start(t testing.TB) *redistest.Server {
	t.Helper()
	return redistest.Start(t)
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
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

// subscribed reports whether Redis counts a subscriber on key's release
// channel (the lock's storage key + ":released").
func subscribed(t testing.TB, rdb *goredis.Client, p *redislocks.Provider, key string) func() bool {
	lock, _ := p.StorageKeys(key)
	channel := lock + ":released"
	return func() bool {
		n, err := rdb.PubSubNumSub(context.Background(), channel).Result()
		return err == nil && n[channel] > 0
	}
}
