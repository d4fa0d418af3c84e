package redis_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsm/redislock"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

func TestAcquireStoresTheOwnerUnderThePrefixedKeyAndReleaseDeletesIt(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	p := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)

	h, err := p.TryAcquire(ctx, "account:42", 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.Key() != "account:42" {
		t.Fatalf("Key() = %q, want the key without prefix", h.Key())
	}
	lock, fence := p.StorageKeys("account:42")
	if lock != "turbo:locks:{account:42}" || fence != "turbo:locks:{account:42}:fence" {
		t.Fatalf("StorageKeys = %q, %q", lock, fence)
	}
	ttl, err := rdb.PTTL(ctx, lock).Result()
	if err != nil || ttl <= 29*time.Second || ttl > 30*time.Second {
		t.Fatalf("PTTL %s = %s, %v; want the default 30s lease", lock, ttl, err)
	}
	if got, _ := rdb.Get(ctx, fence).Uint64(); got != h.Token() || got == 0 {
		t.Fatalf("fence counter = %d, token = %d; want the same, not 0", got, h.Token())
	}
	// The counter is kept the lease plus the default retention, not for good.
	if ttl, err := rdb.PTTL(ctx, fence).Result(); err != nil || ttl <= 89*time.Second || ttl > 90*time.Second {
		t.Fatalf("PTTL %s = %s, %v; want the 30s lease + the 1m retention", fence, ttl, err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, lock).Result(); n != 0 {
		t.Fatalf("%s still exists after Release", lock)
	}
	if n, _ := rdb.Exists(ctx, fence).Result(); n != 1 {
		t.Fatalf("the fence counter %s must outlive the lease", fence)
	}
}

func TestKeysThatWouldBreakTheClusterHashTagAreEscaped(t *testing.T) {
	p, err := redislocks.New(newClient(t, "127.0.0.1:1"), &redislocks.Options{KeyPrefix: "app:"})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"42":   "app:{42}",
		"":     "app:{~}",
		"}x":   "app:{~}x}",
		"~}x":  "app:{~~}x}",
		"a{b}": "app:{a{b}}",
	} {
		if got, _ := p.StorageKeys(key); got != want {
			t.Errorf("StorageKeys(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestContentionIsAnErrorNamingTheKeyWithoutPrefix(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)

	_, err = p.TryAcquire(ctx, "k", 0)
	var le *locking.Error
	if !errors.As(err, &le) || !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("err = %v, want *locking.Error matching ErrNotAcquired", err)
	}
	if errors.Is(err, locking.ErrUnavailable) {
		t.Fatal("contention must not look like unavailability")
	}
	if le.Key != "k" || le.Timeout != 0 {
		t.Fatalf("Error = %+v, want Key \"k\" and Timeout 0", *le)
	}
}

func TestTimeoutZeroMakesOneAttempt(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	var waits atomic.Int32
	p := newProvider(t, srv.Addr(), &redislocks.Options{RetryStrategy: func() redislock.RetryStrategy {
		waits.Add(1) // made only by an acquisition that waits
		return redislock.NoRetry()
	}})
	ctx := ctxT(t)
	h, _ := p.TryAcquire(ctx, "k", 0)
	defer h.Release(ctx)
	begin := time.Now()
	if _, err := p.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("err = %v", err)
	}
	// The key is held for a 30s lease: a try that waited would take that
	// long; 5s leaves a busy machine room.
	within(t, "TryAcquire(timeout 0)", time.Since(begin), 0, 5*time.Second)
	if waits.Load() != 0 || p.Waiters("k") != 0 {
		t.Fatal("timeout 0 waited")
	}
}

func TestTimeoutIsHonoured(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)
	h, _ := p.TryAcquire(ctx, "k", 0)
	defer h.Release(ctx)
	begin := time.Now()
	_, err := p.TryAcquire(ctx, "k", 300*time.Millisecond)
	var le *locking.Error
	if !errors.As(err, &le) || le.Timeout != 300*time.Millisecond {
		t.Fatalf("err = %v, want *locking.Error with Timeout 300ms", err)
	}
	// Not before the timeout; and well before the 30s lease runs out.
	within(t, "TryAcquire(timeout 300ms)", time.Since(begin), 300*time.Millisecond, 5*time.Second)
}

func TestContextCancelEndsTheWaitWithTheContextError(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)
	h, _ := p.TryAcquire(ctx, "k", 0)
	defer h.Release(ctx)

	// begin is read before the cancellation is armed: the bound below is
	// counted from the same moment as the cancellation's 100ms.
	begin := time.Now()
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := p.TryAcquire(cctx, "k", 10*time.Second)
	if !errors.Is(err, context.Canceled) || errors.Is(err, locking.ErrNotAcquired) || errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
	// Well before the 10s timeout: the cancellation ended the wait.
	within(t, "cancelled TryAcquire", time.Since(begin), 100*time.Millisecond, 5*time.Second)

	begin = time.Now()
	dctx, cancel2 := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel2()
	_, err = p.TryAcquire(dctx, "k", 10*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	within(t, "TryAcquire past ctx deadline", time.Since(begin), 150*time.Millisecond, 5*time.Second)
}

func TestAnAlreadyCancelledContextTakesNothing(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	p := newProvider(t, srv.Addr(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.TryAcquire(ctx, "k", time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	lock, _ := p.StorageKeys("k")
	if n, _ := rdb.Exists(context.Background(), lock).Result(); n != 0 {
		t.Fatal("a cancelled acquisition left a lock behind")
	}
}

func TestReleaseIsIdempotentAndSafeFromManyGoroutines(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() { errs <- h.Release(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	// The lock is free, and a later Release of the old handle does not free
	// the new holder's lock.
	h2, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Release(ctx)
	if err := h.Release(ctx); err != nil {
		t.Fatalf("second Release = %v, want nil", err)
	}
	if _, err := p.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("an old handle's Release freed the new holder's lock: %v", err)
	}
}

func TestReleaseUsesAContextTheCallerCancelled(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)
	h, _ := p.TryAcquire(ctx, "k", 0)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := h.Release(cancelled); err != nil {
		t.Fatalf("Release(cancelled ctx) = %v", err)
	}
	h2, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatalf("the lock was not released: %v", err)
	}
	h2.Release(ctx)
}

func TestFencingTokensStrictlyIncreaseAcrossProviders(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	a := newProvider(t, srv.Addr(), nil)
	b := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)
	var last uint64
	for i := range 20 {
		p := a
		if i%2 == 1 {
			p = b
		}
		h, err := p.TryAcquire(ctx, "fenced", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if h.Token() <= last {
			t.Fatalf("grant %d: token %d after %d", i, h.Token(), last)
		}
		last = h.Token()
		h.Release(ctx)
	}
}

func TestExclusionUnderContentionInProcess(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	q := newProvider(t, srv.Addr(), nil) // a second provider, as a second process would be
	ctx := ctxT(t)
	var inside, total atomic.Int32
	var lastToken atomic.Uint64
	var wg sync.WaitGroup
	for g := range 16 {
		prov := p
		if g%2 == 1 {
			prov = q
		}
		wg.Go(func() {
			for range 15 {
				h, err := prov.TryAcquire(ctx, "shared", 10*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders at once", n)
				}
				if tok := h.Token(); tok <= lastToken.Load() {
					t.Errorf("token %d not above %d", tok, lastToken.Load())
				} else {
					lastToken.Store(tok)
				}
				total.Add(1)
				time.Sleep(100 * time.Microsecond)
				inside.Add(-1)
				if err := h.Release(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if total.Load() != 16*15 {
		t.Fatalf("%d grants, want %d", total.Load(), 16*15)
	}
}

func TestAWaiterIsWokenByTheReleaseNotByPolling(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	// No fallback retries at all: only a release can wake the waiter.
	opts := &redislocks.Options{RetryStrategy: redislock.NoRetry}
	holderP := newProvider(t, srv.Addr(), opts)
	waiterP := newProvider(t, srv.Addr(), opts)
	ctx := ctxT(t)
	h, _ := holderP.TryAcquire(ctx, "k", 0)

	got := make(chan time.Time, 1)
	go func() {
		h2, err := waiterP.TryAcquire(ctx, "k", 10*time.Second)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- time.Now()
		h2.Release(ctx)
	}()
	waitFor(t, "the waiter's subscription", subscribed(t, newClient(t, srv.Addr()), waiterP, "k"))
	released := time.Now()
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	at, ok := <-got
	if !ok {
		return
	}
	// No fallback retries, a 30s lease and a 10s timeout: only the
	// release's wake-up explains a handoff at all (its speed is
	// BenchmarkContended's).
	within(t, "release-to-acquire handoff", at.Sub(released), 0, 5*time.Second)
}

func TestAWaiterTakesAnAbandonedLeaseWhenItRunsOut(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	p := newProvider(t, srv.Addr(), &redislocks.Options{RetryStrategy: redislock.NoRetry})
	ctx := ctxT(t)
	lock, _ := p.StorageKeys("k")
	// A holder that died: its lease is in Redis, nobody will release it.
	if err := rdb.Set(ctx, lock, "dead-owner", 400*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	// Without fallback retries only the lease's end wakes the waiter: a
	// grant at all, before the 30s timeout, shows it did.
	h, err := p.TryAcquire(ctx, "k", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	within(t, "taking an abandoned lease", time.Since(begin), 390*time.Millisecond, 15*time.Second)
}

func TestKeyPrefixesIsolateAndEqualPrefixesContend(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	ctx := ctxT(t)
	a := newProvider(t, srv.Addr(), &redislocks.Options{KeyPrefix: "tenant-a:"})
	a2 := newProvider(t, srv.Addr(), &redislocks.Options{KeyPrefix: "tenant-a:"})
	b := newProvider(t, srv.Addr(), &redislocks.Options{KeyPrefix: "tenant-b:"})
	h, err := a.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	hb, err := b.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatalf("another prefix must not contend: %v", err)
	}
	defer hb.Release(ctx)
	_, fenceA := a.StorageKeys("k")
	_, fenceB := b.StorageKeys("k")
	rdbFences := newClient(t, srv.Addr())
	if fa, _ := rdbFences.Get(ctx, fenceA).Uint64(); fa != h.Token() {
		t.Fatalf("tenant-a's counter = %d, want its token %d", fa, h.Token())
	}
	if fb, _ := rdbFences.Get(ctx, fenceB).Uint64(); fb != hb.Token() {
		t.Fatalf("tenant-b's counter = %d, want its own token %d", fb, hb.Token())
	}
	if _, err := a2.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("the same prefix must contend, got %v", err)
	}
	rdb := newClient(t, srv.Addr())
	keys, _ := rdb.Keys(ctx, "*").Result()
	want := map[string]bool{"tenant-a:{k}": true, "tenant-a:{k}:fence": true, "tenant-b:{k}": true, "tenant-b:{k}:fence": true}
	if len(keys) != len(want) {
		t.Fatalf("keys in Redis = %q", keys)
	}
	for _, k := range keys {
		if !want[k] {
			t.Fatalf("unexpected key %q among %q", k, keys)
		}
	}
}

func TestWaitersOfOneProviderAreServedInArrivalOrder(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), &redislocks.Options{RetryStrategy: redislock.NoRetry})
	ctx := ctxT(t)
	h, _ := p.TryAcquire(ctx, "k", 0)
	order := make(chan int, 5)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			hi, err := p.TryAcquire(ctx, "k", 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			hi.Release(ctx)
		})
		waitFor(t, "the waiter to queue", func() bool { return p.Waiters("k") == i+1 })
	}
	h.Release(ctx)
	wg.Wait()
	close(order)
	want := 0
	for i := range order {
		if i != want {
			t.Fatalf("waiter %d served when %d was due", i, want)
		}
		want++
	}
	if want != 5 {
		t.Fatalf("%d waiters served, want 5", want)
	}
}

func TestCloseEndsWaitsAndTheSubscription(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)
	h, _ := p.TryAcquire(ctx, "k", 0)
	defer h.Release(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := p.TryAcquire(ctx, "k", time.Minute)
		errc <- err
	}()
	waitFor(t, "the waiter to queue", func() bool { return p.Waiters("k") == 1 })
	p.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, locking.ErrUnavailable) || !errors.Is(err, redislocks.ErrClosed) {
			t.Fatalf("err = %v, want ErrUnavailable with ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a waiter outlived Close")
	}
}

func TestEachWaitingAcquisitionGetsAFreshRetryStrategy(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	var made atomic.Int32
	// A strategy with one retry: shared between acquisitions, the second
	// would start with none left.
	p := newProvider(t, srv.Addr(), &redislocks.Options{RetryStrategy: func() redislock.RetryStrategy {
		made.Add(1)
		return redislock.LimitRetry(redislock.LinearBackoff(20*time.Millisecond), 1)
	}})
	holder := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)
	if err := p.Ping(ctx); err != nil { // its connection open before the budget starts
		t.Fatal(err)
	}
	for i := range 2 {
		h, _ := holder.TryAcquire(ctx, "k", 0)
		// A budget that a busy machine's first answer fits in.
		if _, err := p.TryAcquire(ctx, "k", time.Second); !errors.Is(err, locking.ErrNotAcquired) {
			t.Fatalf("round %d: %v", i, err)
		}
		h.Release(ctx)
	}
	if got := made.Load(); got != 2 {
		t.Fatalf("RetryStrategy called %d times for 2 waiting acquisitions, want 2", got)
	}
	// An acquisition that does not wait makes none.
	h, err := p.TryAcquire(ctx, "k", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	if got := made.Load(); got != 2 {
		t.Fatalf("an uncontended acquisition made a strategy (%d)", got)
	}
}
