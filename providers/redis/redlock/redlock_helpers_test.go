package redlock_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/lockvalue"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
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

// redlock returns a provider on clients of its own to every node, closed at
// cleanup.
func (ns *rlNodes) redlock(t testing.TB, opts *redlock.Options) *redlock.Provider {
	t.Helper()
	clients := make([]redlock.Client, len(ns.addrs))
	for i, a := range ns.addrs {
		clients[i] = rlClient(t, a)
	}
	r, err := redlock.New(clients, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// owners returns the owner of the lock key on every node: the client's
// part of its value, which is the same on every node of a lease (the grant
// time after it is each node's; see package lockvalue), or the whole value
// when it records no holder ("" when absent; "?" when the node does not
// answer).
func (ns *rlNodes) owners(t testing.TB, lockKey string) []string {
	t.Helper()
	out := make([]string, len(ns.peek))
	for i, c := range ns.peek {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		v, err := c.Get(ctx, lockKey).Result()
		cancel()
		switch {
		case err == goredis.Nil:
		case err != nil:
			out[i] = "?"
		default:
			out[i] = v
			if lv := lockvalue.Parse(v); lv.Recorded {
				out[i] = lv.Client
			}
		}
	}
	return out
}

// fences returns the fencing counter on every node (0 when absent).
func (ns *rlNodes) fences(t testing.TB, fenceKey string) []uint64 {
	t.Helper()
	out := make([]uint64, len(ns.peek))
	for i, c := range ns.peek {
		v, _ := c.Get(context.Background(), fenceKey).Uint64()
		out[i] = v
	}
	return out
}

// aboveClock is a fence counter value above any server clock in
// microseconds for centuries (2^52 µs is in 2112), and exact in Lua.
const aboveClock uint64 = 1 << 52

// countAtLeast returns how many of fences are at least token.
func countAtLeast(fences []uint64, token uint64) int {
	n := 0
	for _, f := range fences {
		if f >= token {
			n++
		}
	}
	return n
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

func rlCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// rlShortLease is a lease short enough for loss and extension tests, with
// a node timeout that a machine loaded by other test packages still meets.
func rlShortLease() *redlock.Options {
	return &redlock.Options{TTL: time.Second, NodeTimeout: 400 * time.Millisecond, ReleaseTimeout: 500 * time.Millisecond}
}

// rlEventually polls cond every 5ms for up to a second: the node a majority
// did not wait for answers just after the call returned.
func rlEventually(t testing.TB, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// acquisition is the outcome of a TryAcquire run by acquireAsync.
type acquisition struct {
	h   locking.Handle
	err error
}

// acquireAsync runs p.TryAcquire(ctx, key, timeout) on a goroutine of its
// own and delivers its outcome on the returned channel.
func acquireAsync(ctx context.Context, p *redlock.Provider, key string, timeout time.Duration) <-chan acquisition {
	got := make(chan acquisition, 1)
	go func() {
		h, err := p.TryAcquire(ctx, key, timeout)
		got <- acquisition{h, err}
	}()
	return got
}
