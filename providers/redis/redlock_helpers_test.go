package redis_test

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// rlNodes are independent redis-server processes for Redlock tests, with a
// direct client to each for looking at what the provider stored.
type rlNodes struct {
	srvs  []*redistest.Server
	peek  []*goredis.Client
	addrs []string
}

// startRedlockNodes launches n redis-servers. Call it after rlNoLeaks so the
// leak check runs after the servers' cleanup.
func startRedlockNodes(t testing.TB, n int) *rlNodes {
	t.Helper()
	ns := &rlNodes{}
	for range n {
		s := redistest.Start(t)
		ns.srvs = append(ns.srvs, s)
		ns.addrs = append(ns.addrs, s.Addr())
		ns.peek = append(ns.peek, rlClient(t, s.Addr()))
	}
	return ns
}

// rlClient returns a client with the settings of the provider's own
// registrations, closed at cleanup.
func rlClient(t testing.TB, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{
		Addr:                  addr,
		DialTimeout:           200 * time.Millisecond,
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
		DialerRetries:         1,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rlNoLeaks checks, after the test's other cleanups, that no goroutine is
// left behind. go-redis's pool re-dials a dead node from a goroutine of its
// own that sleeps a second between tries and ends after the client closes.
func rlNoLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		goleak.VerifyNone(t, leakOptions...)
	})
}
