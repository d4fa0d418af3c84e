package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// withdraw is a locked command: one lock per account.
type withdraw struct {
	mediator.Command[uint64]
	locking.DistributedLock `lock:"timeout=2s"`
	Account                 string
}

func (w withdraw) LockKey() string { return w.Account }

// tryWithdraw is withdraw with one try and no wait.
type tryWithdraw struct {
	mediator.Command[uint64]
	locking.DistributedLock `lock:"prefix=withdraw,timeout=0"`
	Account                 string
}

func (w tryWithdraw) LockKey() string { return w.Account }

// tokenHandler answers with the fencing token of the lock it runs under.
func tokenHandler(ctx context.Context, _ withdraw) (uint64, error) {
	h, ok := locking.FromContext(ctx)
	if !ok {
		return 0, errors.New("handler ran without a lock")
	}
	return h.Token(), nil
}

func build(t *testing.T, opts ...mediator.Option) *mediator.Mediator {
	t.Helper()
	m, err := mediator.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

func providerOf(t *testing.T, m *mediator.Mediator) *redislocks.Provider {
	t.Helper()
	var p *redislocks.Provider
	if err := m.Invoke(func(lp locking.Provider) { p = lp.(*redislocks.Provider) }); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWithRedisDistributedLockingLocksSendsAndCloseClosesItsClient(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	ctx := ctxT(t)
	var sawKey bool
	m, err := mediator.New(
		redislocks.WithRedisDistributedLocking(srv.Addr()),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(ctx context.Context, w withdraw) (uint64, error) {
			n, _ := rdb.Exists(ctx, "turbo:locks:{withdraw:42}").Result()
			sawKey = n == 1
			return tokenHandler(ctx, w)
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for range 3 {
		tok, err := mediator.Send(ctx, m, withdraw{Account: "42"})
		if err != nil || tok <= last {
			t.Fatalf("Send = %d, %v; want a token above %d", tok, err, last)
		}
		last = tok
	}
	if !sawKey {
		t.Fatal("the handler ran while turbo:locks:{withdraw:42} did not exist")
	}
	p := providerOf(t, m)
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.TryAcquire(ctx, "x", 0); !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("TryAcquire after Close = %v, want ErrUnavailable (client closed)", err)
	}
}

func TestARedisURLSelectsTheDatabase(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	ctx := ctxT(t)
	var inDB3 int64
	m := build(t,
		redislocks.WithRedisDistributedLocking("redis://"+srv.Addr()+"/3"),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(ctx context.Context, w withdraw) (uint64, error) {
			c := newClient(t, srv.Addr())
			c.Do(ctx, "SELECT", 3)
			inDB3, _ = c.Exists(ctx, "turbo:locks:{withdraw:7}").Result()
			return 0, nil
		}),
	)
	if _, err := mediator.Send(ctx, m, withdraw{Account: "7"}); err != nil {
		t.Fatal(err)
	}
	if inDB3 != 1 {
		t.Fatal("the lock was not in DB 3")
	}
}

func TestOptionsFormSetsPrefixAndLease(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	ctx := ctxT(t)
	var ttl time.Duration
	m := build(t,
		redislocks.WithRedisDistributedLockingOptions(redislocks.Options{
			Addr: srv.Addr(), KeyPrefix: "bank:", TTL: 5 * time.Second,
		}),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(ctx context.Context, w withdraw) (uint64, error) {
			ttl, _ = rdb.PTTL(ctx, "bank:{withdraw:1}").Result()
			return 0, nil
		}),
	)
	if _, err := mediator.Send(ctx, m, withdraw{Account: "1"}); err != nil {
		t.Fatal(err)
	}
	if ttl <= 4*time.Second || ttl > 5*time.Second {
		t.Fatalf("PTTL of bank:{withdraw:1} = %s, want the 5s lease", ttl)
	}
}

func TestFromDIUsesTheAppsClientAndLeavesItOpen(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	ctx := ctxT(t)
	client := newClient(t, srv.Addr())
	m, err := mediator.New(
		mediator.Provide(func() redislocks.UniversalClient { return client }),
		redislocks.WithRedisDistributedLockingFromDI(func(o *redislocks.Options) { o.KeyPrefix = "di:" }),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](tokenHandler),
	)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mediator.Send(ctx, m, withdraw{Account: "1"})
	if err != nil || tok == 0 {
		t.Fatalf("Send = %d, %v", tok, err)
	}
	if got, _ := client.Get(ctx, "di:{withdraw:1}:fence").Uint64(); got != tok {
		t.Fatalf("di:{withdraw:1}:fence = %d, want the token %d", got, tok)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("the app's client was closed by the mediator: %v", err)
	}
}

func TestFromDIWithoutAClientFailsBuild(t *testing.T) {
	_, err := mediator.New(redislocks.WithRedisDistributedLockingFromDI())
	if err == nil || !strings.Contains(err.Error(), "UniversalClient") {
		t.Fatalf("Build = %v, want a missing UniversalClient error", err)
	}
}

func TestAWrongAddressFailsBuildWithUnavailableWithinTheDialTimeout(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	addr := srv.Addr()
	srv.Stop() // a port where nothing listens
	for name, target := range map[string]string{
		"refused":    addr,
		"unroutable": "10.255.255.1:6379",
	} {
		t.Run(name, func(t *testing.T) {
			begin := time.Now()
			_, err := mediator.New(redislocks.WithRedisDistributedLocking(target, func(o *redislocks.Options) {
				o.DialTimeout = 300 * time.Millisecond
			}))
			if !errors.Is(err, locking.ErrUnavailable) {
				t.Fatalf("Build = %v, want ErrUnavailable", err)
			}
			within(t, "Build", time.Since(begin), 0, 800*time.Millisecond)
		})
	}
}

func TestAMalformedAddressFailsBuildNamingIt(t *testing.T) {
	for _, addr := range []string{"", "localhost", "master:"} {
		_, err := mediator.New(redislocks.WithRedisDistributedLocking(addr))
		if !errors.Is(err, redislocks.ErrInvalidAddress) || !strings.Contains(err.Error(), "redis: invalid address") {
			t.Errorf("%q: Build = %v", addr, err)
		}
	}
	_, err := mediator.New(redislocks.WithRedisDistributedLocking("127.0.0.1:1", func(o *redislocks.Options) { o.KeyPrefix = "a{b" }))
	if !errors.Is(err, redislocks.ErrInvalidOptions) || !strings.Contains(err.Error(), "KeyPrefix") {
		t.Errorf("bad KeyPrefix: Build = %v", err)
	}
	if _, err := redislocks.New(newClient(t, "127.0.0.1:1"), &redislocks.Options{TTL: time.Second, RefreshInterval: time.Second}); !errors.Is(err, redislocks.ErrInvalidOptions) {
		t.Errorf("New with RefreshInterval = TTL: %v", err)
	}
}

func TestContendedSendReportsTheKeyWithoutTheStoragePrefix(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	ctx := ctxT(t)
	other := newProvider(t, srv.Addr(), nil)
	m := build(t,
		redislocks.WithRedisDistributedLocking(srv.Addr()),
		locking.WithDistributedLocking[tryWithdraw, uint64](),
		mediator.WithHandler[tryWithdraw, uint64](func(context.Context, tryWithdraw) (uint64, error) { return 0, nil }),
	)
	h, err := other.TryAcquire(ctx, "withdraw:9", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	_, err = mediator.Send(ctx, m, tryWithdraw{Account: "9"})
	var le *locking.Error
	if !errors.As(err, &le) || le.Key != "withdraw:9" {
		t.Fatalf("Send = %v, want *locking.Error for \"withdraw:9\"", err)
	}
}

func TestALostLeaseCancelsTheHandlerAndSendReportsIt(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	ctx := ctxT(t)
	entered := make(chan struct{})
	cause := make(chan error, 1)
	m := build(t,
		redislocks.WithRedisDistributedLocking(srv.Addr(), func(o *redislocks.Options) { *o = shortLease; o.Addr = srv.Addr() }),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(ctx context.Context, w withdraw) (uint64, error) {
			if w.Account != "1" {
				return 0, nil
			}
			close(entered)
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return 0, ctx.Err()
		}),
	)
	errc := make(chan error, 1)
	go func() {
		_, err := mediator.Send(ctx, m, withdraw{Account: "1"})
		errc <- err
	}()
	<-entered
	srv.Stop()
	stopped := time.Now()
	select {
	case c := <-cause:
		if !errors.Is(c, locking.ErrLockLost) {
			t.Fatalf("handler's ctx cause = %v, want ErrLockLost", c)
		}
		// Within the 1s lease on an idle machine; the bound allows for a
		// busy one's late timers.
		within(t, "cancelling the handler", time.Since(stopped), 0, 3*shortLease.TTL)
	case <-time.After(5 * time.Second):
		t.Fatal("the handler kept running without its lease")
	}
	if err := <-errc; !errors.Is(err, locking.ErrLockLost) {
		t.Fatalf("Send = %v, want ErrLockLost", err)
	}

	// During the outage Send fails fast as unavailable, and recovers after.
	begin := time.Now()
	_, err := mediator.Send(ctx, m, withdraw{Account: "2"})
	if !errors.Is(err, locking.ErrUnavailable) || errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("Send during the outage = %v, want ErrUnavailable", err)
	}
	// Fast: a refused dial, not the 5s dial timeout (500ms on an idle
	// machine is plenty; the bound allows for a busy one).
	within(t, "Send during the outage", time.Since(begin), 0, 2*time.Second)
	srv.Restart()
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := mediator.Send(ctx, m, withdraw{Account: "2"})
		if err == nil {
			break
		}
		if !errors.Is(err, locking.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Send after the restart = %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFromDIRefusesRedlockOptions(t *testing.T) {
	for name, configure := range map[string]func(*redislocks.Options){
		"Nodes":      func(o *redislocks.Options) { o.Nodes = []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"} },
		"redlock://": func(o *redislocks.Options) { o.Addr = "redlock://127.0.0.1:1,127.0.0.1:2,127.0.0.1:3" },
	} {
		t.Run(name, func(t *testing.T) {
			// No client is provided either: the Redlock refusal must come
			// first, and without dialling anything.
			_, err := mediator.New(redislocks.WithRedisDistributedLockingFromDI(configure))
			if !errors.Is(err, redislocks.ErrInvalidOptions) {
				t.Fatalf("Build = %v, want ErrInvalidOptions", err)
			}
			for _, want := range []string{"WithRedisDistributedLockingFromDI", "Redlock"} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("Build = %v, want it to name %q", err, want)
				}
			}
		})
	}
}
