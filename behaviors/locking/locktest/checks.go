package locktest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// exclusionTimeout is how long a goroutine of the exclusion check waits for
// its turn: far above what a handoff costs, so only a stuck provider hits it.
const exclusionTimeout = time.Minute

// exclusion runs goroutines on several provider instances against one key
// and watches the critical section: never two inside, a counter updated by
// an unsynchronised read-modify-write comes out exact, tokens grow.
func (k kit) exclusion(t *testing.T) {
	ctx := testContext(t)
	key := newKey(t)
	ps := k.open(t, k.c.instances)
	var (
		inside   atomic.Int32
		overlaps atomic.Int64
		// counter and lastToken are atomics only so that a provider that
		// lets two holders in shows up as a failed check, not as a data
		// race inside the kit: each is read, then written, non-atomically.
		counter    atomic.Int64
		lastToken  atomic.Uint64
		badTokens  atomic.Int64
		firstBad   sync.Once
		badExample string
		errs       = make(chan error, k.c.instances*k.c.goroutines)
		wg         sync.WaitGroup
	)
	for _, p := range ps {
		for range k.c.goroutines {
			wg.Go(func() {
				for range k.c.acquisitions {
					h, err := p.TryAcquire(ctx, key, exclusionTimeout)
					if err != nil {
						errs <- err
						return
					}
					if inside.Add(1) != 1 {
						overlaps.Add(1)
					}
					tok, last := h.Token(), lastToken.Load()
					if tok <= last {
						badTokens.Add(1)
						firstBad.Do(func() { badExample = fmt.Sprintf("token %d granted after token %d", tok, last) })
					}
					v := counter.Load()
					runtime.Gosched() // widen the window a second holder would use
					counter.Store(v + 1)
					lastToken.Store(tok)
					inside.Add(-1)
					if err := h.Release(context.WithoutCancel(ctx)); err != nil {
						errs <- fmt.Errorf("release: %w", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("exclusion: %v", err)
	}
	if n := overlaps.Load(); n > 0 {
		t.Errorf("exclusion: %d grants found another holder inside (two holders at once)", n)
	}
	want := int64(k.c.instances * k.c.goroutines * k.c.acquisitions)
	if got := counter.Load(); got != want && !t.Failed() {
		t.Errorf("exclusion: counter %d, want %d (updates lost under the lock)", got, want)
	}
	if n := badTokens.Load(); n > 0 {
		t.Errorf("exclusion: %d grants did not get a larger token than the grant before (%s)", n, badExample)
	}
}

// timeoutZero checks that timeout 0 grants a free key and fails at once,
// with contention, on a held one — from another instance and from the
// holder's own.
func (k kit) timeoutZero(t *testing.T) {
	ctx := testContext(t)
	key := newKey(t)
	ps := k.open(t, 2)
	start := time.Now()
	h := acquire(t, ctx, ps[0], key, 0)
	atMost(t, "TryAcquire(timeout 0) on a free key", time.Since(start), k.c.slack)
	defer release(t, h)
	for i, p := range ps {
		start := time.Now()
		got, err := p.TryAcquire(ctx, key, 0)
		elapsed := time.Since(start)
		wantNotAcquired(t, fmt.Sprintf("instance %d: TryAcquire(timeout 0) on a held key", i), got, err)
		atMost(t, "TryAcquire(timeout 0) on a held key", elapsed, k.c.slack)
	}
}

// timeoutHonoured checks that a waiter on a held key gives up with
// contention once its timeout ran out, and not long after.
func (k kit) timeoutHonoured(t *testing.T) {
	ctx := testContext(t)
	key := newKey(t)
	ps := k.open(t, 2)
	h := acquire(t, ctx, ps[0], key, 0)
	defer release(t, h)
	const timeout = 500 * time.Millisecond
	start := time.Now()
	got, err := ps[1].TryAcquire(ctx, key, timeout)
	elapsed := time.Since(start)
	wantNotAcquired(t, "TryAcquire(500ms) on a held key", got, err)
	if elapsed < timeout-timeout/20 {
		t.Fatalf("TryAcquire(%s) gave up after %s, before its timeout", timeout, elapsed)
	}
	atMost(t, "TryAcquire(500ms) on a held key", elapsed, timeout+k.c.slack)
	var le *locking.Error
	if errors.As(err, &le) && (le.Key != key || le.Timeout != timeout) {
		t.Errorf("*locking.Error{Key: %q, Timeout: %s}, want {%q, %s}", le.Key, le.Timeout, key, timeout)
	}
}

// contextCancelled checks that cancelling a waiter's context ends its wait
// with an error wrapping context.Canceled, soon, leaving nothing held.
func (k kit) contextCancelled(t *testing.T) {
	k.contextEnds(t, context.Canceled, func(ctx context.Context) (context.Context, func()) {
		ctx, cancel := context.WithCancel(ctx)
		timer := time.AfterFunc(300*time.Millisecond, cancel)
		return ctx, func() { timer.Stop(); cancel() }
	})
}

// contextDeadline is contextCancelled with a deadline shorter than the
// timeout.
func (k kit) contextDeadline(t *testing.T) {
	k.contextEnds(t, context.DeadlineExceeded, func(ctx context.Context) (context.Context, func()) {
		return context.WithTimeout(ctx, 300*time.Millisecond)
	})
}

func (k kit) contextEnds(t *testing.T, want error, withEnd func(context.Context) (context.Context, func())) {
	ctx := testContext(t)
	key := newKey(t)
	ps := k.open(t, 3)
	h := acquire(t, ctx, ps[0], key, 0)
	wctx, stop := withEnd(ctx)
	defer stop()
	start := time.Now()
	got, err := ps[1].TryAcquire(wctx, key, time.Minute)
	elapsed := time.Since(start)
	if got != nil {
		releaseQuietly(got)
		release(t, h)
		t.Fatalf("granted while another holder had the key")
	}
	if !errors.Is(err, want) {
		release(t, h)
		t.Fatalf("error %v, want one wrapping %v", err, want)
	}
	atMost(t, "a wait whose context ended after 300ms", elapsed, 300*time.Millisecond+k.c.slack)
	release(t, h)
	// The waiter that gave up must hold nothing, not even a grant that
	// arrived as it left: a third instance gets the key.
	h3 := acquire(t, ctx, ps[2], key, k.c.slack)
	release(t, h3)
}

// contextAlreadyEnded checks that a context ended before the call gets its
// error at once and takes nothing, even on a free key.
func (k kit) contextAlreadyEnded(t *testing.T) {
	ctx := testContext(t)
	key := newKey(t)
	ps := k.open(t, 2)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for _, timeout := range []time.Duration{0, time.Minute} {
		start := time.Now()
		got, err := ps[0].TryAcquire(cctx, key, timeout)
		elapsed := time.Since(start)
		if got != nil {
			releaseQuietly(got)
			t.Fatalf("TryAcquire(timeout %s) with a cancelled context granted the key", timeout)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("TryAcquire(timeout %s) with a cancelled context: %v, want an error wrapping context.Canceled", timeout, err)
		}
		atMost(t, "TryAcquire with a cancelled context", elapsed, k.c.slack)
	}
	h := acquire(t, ctx, ps[1], key, k.c.slack)
	release(t, h)
}

// tokensIncrease takes one key in turn on several instances: every token
// is larger than the one before.
func (k kit) tokensIncrease(t *testing.T) {
	ctx := testContext(t)
	key := newKey(t)
	ps := k.open(t, 3)
	var last uint64
	for i := range 30 {
		h := acquire(t, ctx, ps[i%len(ps)], key, k.c.slack)
		if tok := h.Token(); i > 0 && tok <= last {
			release(t, h)
			t.Fatalf("grant %d (instance %d): token %d, not above the previous grant's %d", i, i%len(ps), tok, last)
		}
		last = h.Token()
		if lost := h.Lost(); lost != nil {
			select {
			case <-lost:
				t.Fatalf("grant %d: Lost() is closed while the lock is held", i)
			default:
			}
		}
		release(t, h)
	}
}

// release checks that Release called from several goroutines at once with
// a cancelled context frees the key for another instance, and that calling
// it again later does not free the next holder's lock.
func (k kit) release(t *testing.T) {
	ctx := testContext(t)
	key := newKey(t)
	ps := k.open(t, 3)
	h := acquire(t, ctx, ps[0], key, 0)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	const callers = 8
	errs := make([]error, callers)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-begin
			errs[i] = h.Release(cctx)
		})
	}
	close(begin)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Release #%d with a cancelled context: %v", i, err)
		}
	}
	next, err := ps[1].TryAcquire(ctx, key, 0)
	if err != nil {
		t.Fatalf("after Release, another instance's TryAcquire(timeout 0): %v", err)
	}
	defer release(t, next)
	if err := h.Release(ctx); err != nil {
		t.Errorf("a second Release after the key changed hands: %v", err)
	}
	got, err := ps[2].TryAcquire(ctx, key, 0)
	wantNotAcquired(t, "a stale handle's second Release freed the next holder's lock", got, err)
}

// contention checks that a held key is reported as contention, never as
// unavailability, for a single try and for a short wait.
func (k kit) contention(t *testing.T) {
	ctx := testContext(t)
	key := newKey(t)
	ps := k.open(t, 2)
	h := acquire(t, ctx, ps[0], key, 0)
	defer release(t, h)
	for _, timeout := range []time.Duration{0, 100 * time.Millisecond} {
		got, err := ps[1].TryAcquire(ctx, key, timeout)
		wantNotAcquired(t, fmt.Sprintf("TryAcquire(%s) on a held key", timeout), got, err)
	}
}

// fifo queues waiters one by one on one instance and checks they are
// served in that order.
func (k kit) fifo(t *testing.T) {
	ctx := testContext(t)
	key := newKey(t)
	p := k.open(t, 1)[0]
	w, ok := p.(interface{ Waiters(key string) int })
	if !ok {
		t.Fatalf("WithFIFO: %T has no method Waiters(key string) int", p)
	}
	h := acquire(t, ctx, p, key, 0)
	const waiters = 5
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
		errs  = make(chan error, waiters)
	)
	for i := range waiters {
		wg.Go(func() {
			got, err := p.TryAcquire(ctx, key, time.Minute)
			if err != nil {
				errs <- fmt.Errorf("waiter %d: %w", i, err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			if err := got.Release(context.WithoutCancel(ctx)); err != nil {
				errs <- fmt.Errorf("waiter %d: release: %w", i, err)
			}
		})
		// Waiters counts what only the provider knows; poll it.
		deadline := time.Now().Add(30 * time.Second)
		for w.Waiters(key) < i+1 {
			if time.Now().After(deadline) {
				release(t, h)
				wg.Wait()
				t.Fatalf("waiter %d never showed in Waiters(key)", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	release(t, h)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, got := range order {
		if got != i {
			t.Fatalf("waiters served in order %v, want 0..%d", order, waiters-1)
		}
	}
}

// unreachable checks that a provider whose backend does not answer reports
// unavailability, for a single try and for a wait, within the bounds.
func (k kit) unreachable(t *testing.T) {
	ctx := testContext(t)
	key := newKey(t)
	p := k.c.unreachable(t)
	for _, timeout := range []time.Duration{0, time.Second} {
		start := time.Now()
		got, err := p.TryAcquire(ctx, key, timeout)
		elapsed := time.Since(start)
		wantUnavailable(t, fmt.Sprintf("TryAcquire(%s) with the backend unreachable", timeout), got, err)
		atMost(t, "TryAcquire with the backend unreachable", elapsed, timeout+k.c.slack)
	}
}

// lostWhenForgotten makes the backend forget a held lock and waits for the
// handle's Lost; then the key can be had again.
func (k kit) lostWhenForgotten(t *testing.T) {
	ctx := testContext(t)
	key := newKey(t)
	ps := k.open(t, 2)
	h := acquire(t, ctx, ps[0], key, 0)
	defer releaseQuietly(h)
	lost := h.Lost()
	if lost == nil {
		t.Fatal("Lost() is nil, but WithForget declares the provider can lose a lock")
	}
	k.c.forget(t, key)
	select {
	case <-lost:
	case <-time.After(k.c.lostWithin):
		t.Fatalf("Lost() not closed within %s of the backend forgetting the lock", k.c.lostWithin)
	}
	h2 := acquireEventually(t, ctx, ps[1], key, k.c.lostWithin)
	if h2.Token() <= h.Token() {
		t.Errorf("the next holder's token %d is not above the lost holder's %d", h2.Token(), h.Token())
	}
	release(t, h2)
}

// outage stops the backend with a lock held: acquisitions are unavailable,
// the held lock is lost, and the key is free again once the backend is back.
func (k kit) outage(t *testing.T) {
	ctx := testContext(t)
	key := newKey(t)
	ps := k.open(t, 2)
	h := acquire(t, ctx, ps[0], key, 0)
	defer releaseQuietly(h)
	k.c.stop(t)
	restarted := false
	defer func() {
		if !restarted {
			k.c.start(t)
		}
	}()
	for _, timeout := range []time.Duration{0, 500 * time.Millisecond} {
		start := time.Now()
		got, err := ps[1].TryAcquire(ctx, key, timeout)
		elapsed := time.Since(start)
		wantUnavailable(t, fmt.Sprintf("TryAcquire(%s) with the backend stopped", timeout), got, err)
		atMost(t, "TryAcquire with the backend stopped", elapsed, timeout+k.c.slack)
	}
	if lost := h.Lost(); lost != nil {
		select {
		case <-lost:
		case <-time.After(k.c.lostWithin):
			t.Fatalf("Lost() not closed within %s of the backend stopping", k.c.lostWithin)
		}
	}
	k.c.start(t)
	restarted = true
	h2 := acquireEventually(t, ctx, ps[1], key, k.c.lostWithin)
	release(t, h2)
}

// noLeak uses two instances (grants, a timed-out wait, a cancelled wait),
// closes them and checks that no goroutine they started is left.
func (k kit) noLeak(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	// Registered before the factory runs, so it runs after the providers'
	// own clean-up.
	t.Cleanup(func() {
		goleak.VerifyNone(t, append([]goleak.Option{ignore}, k.c.leakOptions...)...)
	})
	ctx := testContext(t)
	key := newKey(t)
	ps := k.open(t, 2)
	h := acquire(t, ctx, ps[0], key, 0)
	got, err := ps[1].TryAcquire(ctx, key, 100*time.Millisecond)
	wantNotAcquired(t, "TryAcquire(100ms) on a held key", got, err)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	got, err = ps[1].TryAcquire(cctx, key, time.Minute)
	cancel()
	if got != nil || err == nil {
		t.Fatalf("a wait whose context ended was granted (%v)", err)
	}
	release(t, h)
	h = acquire(t, ctx, ps[1], key, k.c.slack)
	release(t, h)
	for _, p := range ps {
		if c, ok := p.(interface{ Close() error }); ok {
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	}
}
