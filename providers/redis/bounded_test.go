package redis_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
)

// boundedKeys is how many distinct keys TestDistinctKeysLeaveNothingBehind
// locks: 20,000 in `make test`; REDIS_BOUNDED_KEYS=1000000 (`make chaos`)
// runs the million.
func boundedKeys(t *testing.T) int {
	t.Helper()
	if v := os.Getenv("REDIS_BOUNDED_KEYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("REDIS_BOUNDED_KEYS=%q: want a positive count", v)
		}
		return n
	}
	return 20_000
}

// TestDistinctKeysLeaveNothingBehind: every distinct key locked and
// released leaves no key in Redis once its lease and the fence retention are
// over; the fence counters expire (they used to stay for good, one per key
// ever locked).
func TestDistinctKeysLeaveNothingBehind(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	ctx := ctxT(t)
	rdb.Set(ctx, "app:data", "unrelated", 0) // the baseline is not empty
	p := newProvider(t, srv.Addr(), &redislocks.Options{TTL: 3 * time.Second, FenceRetention: 100 * time.Millisecond})
	n := boundedKeys(t)
	started := time.Now()
	redistesting.LockDistinctKeys(t, p, n, 64)
	locked := time.Since(started)
	redistesting.WaitForDBSize(t, 1, rdb)
	t.Logf("%d keys locked and released in %s (%.0f/s); DBSIZE back to the baseline %s after the last release",
		n, locked.Round(time.Millisecond), float64(n)/locked.Seconds(), (time.Since(started) - locked).Round(time.Millisecond))
}

// TestTokensGrowAfterTheFenceCounterExpires: once a key's counter expired
// (lease + retention after its last grant), the next grant's token is the
// server's clock, still above every earlier token; a counter above the clock
// is honoured as long as it lives.
func TestTokensGrowAfterTheFenceCounterExpires(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	p := newProvider(t, srv.Addr(), &redislocks.Options{TTL: 200 * time.Millisecond, FenceRetention: time.Millisecond})
	ctx := ctxT(t)
	_, fence := p.StorageKeys("k")
	grant := func() uint64 {
		t.Helper()
		h, err := p.TryAcquire(ctx, "k", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Release(ctx); err != nil {
			t.Fatal(err)
		}
		return h.Token()
	}
	last := grant()
	for round := range 3 {
		waitFor(t, "the fence counter to expire", func() bool {
			n, err := rdb.Exists(ctx, fence).Result()
			return err == nil && n == 0
		})
		if tok := grant(); tok <= last {
			t.Fatalf("round %d: token %d after the counter expired, previous %d", round, tok, last)
		} else {
			last = tok
		}
	}
	// A counter ahead of the clock (raised by Redlock, or left by an
	// older version of this provider) goes on by one.
	const ahead = uint64(1) << 52
	rdb.Set(ctx, fence, ahead, 10*time.Second)
	if tok := grant(); tok != ahead+1 {
		t.Fatalf("token %d over a counter of %d, want %d", tok, ahead, ahead+1)
	}
	// A counter that lives on keeps the expiry it was made with.
	if ttl, err := rdb.PTTL(ctx, fence).Result(); err != nil || ttl <= 0 || ttl > 10*time.Second {
		t.Fatalf("PTTL %s = %s, %v; want the expiry it was made with, at most 10s", fence, ttl, err)
	}
}

// TestTokensGrowAcrossARestart: a restart from the append-only file keeps
// the counters with their expiry; a restart that lost everything leaves the
// clock, which still gives larger tokens.
func TestTokensGrowAcrossARestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"append-only file", []string{"--appendonly", "yes", "--appendfsync", "always"}},
		{"no persistence", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := redistest.Start(t, redistest.WithArgs(tc.args...))
			ctx := ctxT(t)
			var last uint64
			for restart := range 3 {
				// A new provider and client each time, as after a crash.
				client := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
				p, err := redislocks.New(client, nil)
				if err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					h, err := p.TryAcquire(ctx, "k", 5*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					if h.Token() <= last {
						t.Fatalf("restart %d, grant %d: token %d after %d", restart, i, h.Token(), last)
					}
					last = h.Token()
					if err := h.Release(ctx); err != nil {
						t.Fatal(err)
					}
				}
				_, fence := p.StorageKeys("k")
				stored, _ := client.Get(ctx, fence).Uint64()
				_ = p.Close()
				_ = client.Close()
				srv.Kill()
				srv.Restart()
				kept, err := redistest.Command(srv.Addr(), "GET", fence)
				switch {
				case tc.args != nil && (err != nil || kept != strconv.FormatUint(stored, 10)):
					t.Fatalf("after a restart from the AOF, %s = %q, %v; want %d", fence, kept, err, stored)
				case tc.args != nil:
					if ttl, err := redistest.Command(srv.Addr(), "PTTL", fence); err != nil || ttl == "-1" {
						t.Fatalf("after a restart from the AOF, PTTL %s = %s, %v; want an expiry", fence, ttl, err)
					}
				}
			}
		})
	}
}
