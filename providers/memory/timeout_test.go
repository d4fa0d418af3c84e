package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// slack is how far past its timeout a wait may end on a busy 2-core
// machine. These tests check that a wait never ends early and does end; how
// promptly is a matter for benchmarks: at a load average of 17 a 100 ms
// wait was seen to end after 214 ms, the goroutine waiting for a core.
const slack = time.Second

func TestTimeoutZeroFailsAtOnce(t *testing.T) {
	p := memory.New()
	h := mustAcquire(t, p, "invoice:tenant-abc:invoice-123")
	defer release(t, h)

	start := time.Now()
	got, err := p.TryAcquire(context.Background(), "invoice:tenant-abc:invoice-123", 0)
	elapsed := time.Since(start)
	if got != nil {
		t.Fatal("TryAcquire on a held key returned a handle")
	}
	if elapsed >= slack {
		t.Errorf("timeout 0 took %v, want < %v", elapsed, slack)
	}
	var lerr *locking.Error
	if !errors.As(err, &lerr) {
		t.Fatalf("err = %v (%T), want *locking.Error", err, err)
	}
	if lerr.Key != "invoice:tenant-abc:invoice-123" || lerr.Timeout != 0 {
		t.Errorf("Error = {Key: %q, Timeout: %v}, want {invoice:tenant-abc:invoice-123, 0}", lerr.Key, lerr.Timeout)
	}
	if !errors.Is(err, locking.ErrNotAcquired) {
		t.Error("errors.Is(err, ErrNotAcquired) is false")
	}
	if errors.Is(err, locking.ErrUnavailable) {
		t.Error("contention reported as ErrUnavailable")
	}
	if n := p.Waiters("invoice:tenant-abc:invoice-123"); n != 0 {
		t.Errorf("Waiters = %d after a timeout-0 try, want 0", n)
	}
}

func TestNegativeTimeoutTriesOnceLikeZero(t *testing.T) {
	p := memory.New()
	h := mustAcquire(t, p, "k")
	defer release(t, h)
	_, err := p.TryAcquire(context.Background(), "k", -time.Second)
	var lerr *locking.Error
	if !errors.As(err, &lerr) || lerr.Timeout != -time.Second {
		t.Fatalf("err = %v, want *locking.Error with Timeout -1s", err)
	}
}

func TestTimeoutIsHonoured(t *testing.T) {
	const timeout = 100 * time.Millisecond
	p := memory.New()
	h := mustAcquire(t, p, "report")
	defer release(t, h)

	start := time.Now()
	_, err := p.TryAcquire(context.Background(), "report", timeout)
	elapsed := time.Since(start)
	var lerr *locking.Error
	if !errors.As(err, &lerr) || lerr.Key != "report" || lerr.Timeout != timeout {
		t.Fatalf("err = %v, want *locking.Error{report, %v}", err, timeout)
	}
	if elapsed < timeout || elapsed >= timeout+slack {
		t.Errorf("waited %v, want in [%v, %v)", elapsed, timeout, timeout+slack)
	}
	if n := p.Waiters("report"); n != 0 {
		t.Errorf("Waiters = %d after the timeout, want 0", n)
	}
}

func TestCancelEndsTheWaitWithContextCanceled(t *testing.T) {
	p := memory.New()
	h := mustAcquire(t, p, "k")
	defer release(t, h)

	ctx, cancel := context.WithCancel(context.Background())
	memory.OnQueued(p, func(string) { cancel() })
	start := time.Now()
	got, err := p.TryAcquire(ctx, "k", time.Minute)
	if got != nil {
		t.Fatal("cancelled TryAcquire returned a handle")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, locking.ErrNotAcquired) {
		t.Error("cancellation reported as contention")
	}
	if elapsed := time.Since(start); elapsed >= slack {
		t.Errorf("cancel took %v to end the wait, want < %v", elapsed, slack)
	}
	if n := p.Waiters("k"); n != 0 {
		t.Errorf("Waiters = %d after cancel, want 0", n)
	}
}

func TestCancelCauseIsWrapped(t *testing.T) {
	p := memory.New()
	h := mustAcquire(t, p, "k")
	defer release(t, h)

	shutdown := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	memory.OnQueued(p, func(string) { cancel(shutdown) })
	_, err := p.TryAcquire(ctx, "k", time.Minute)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, shutdown) {
		t.Fatalf("err = %v, want both context.Canceled and the cause", err)
	}
}

func TestDeadlineEndsTheWaitWithDeadlineExceeded(t *testing.T) {
	const deadline = 60 * time.Millisecond
	p := memory.New()
	h := mustAcquire(t, p, "k")
	defer release(t, h)

	// start is read before the deadline is set, so the deadline cannot
	// come earlier than start+deadline.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	_, err := p.TryAcquire(ctx, "k", time.Minute)
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if elapsed < deadline || elapsed >= deadline+slack {
		t.Errorf("waited %v, want in [%v, %v)", elapsed, deadline, deadline+slack)
	}
}

func TestDoneContextIsRefusedEvenForAFreeKey(t *testing.T) {
	p := memory.New()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if h, err := p.TryAcquire(ctx, "free", time.Second); h != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("TryAcquire with a done ctx = (%v, %v), want (nil, context.Canceled)", h, err)
	}
	if n := p.Len(); n != 0 {
		t.Errorf("Len() = %d, want 0", n)
	}
}

func TestCancelledWaiterIsNeverGrantedLater(t *testing.T) {
	p := memory.New()
	holder := mustAcquire(t, p, "k")

	// Queue: cancelled, then next. Releasing the holder must skip the
	// cancelled waiter and grant next.
	queued := make(chan string, 2)
	memory.OnQueued(p, func(key string) { queued <- key })
	ctx, cancel := context.WithCancel(context.Background())
	cancelledDone := make(chan error, 1)
	go func() {
		h, err := p.TryAcquire(ctx, "k", time.Minute)
		if h != nil {
			_ = h.Release(context.Background())
		}
		cancelledDone <- err
	}()
	<-queued
	nextDone := make(chan locking.Handle, 1)
	go func() {
		h, err := p.TryAcquire(context.Background(), "k", time.Minute)
		if err != nil {
			t.Errorf("next waiter: %v", err)
		}
		nextDone <- h
	}()
	<-queued
	cancel()
	if err := <-cancelledDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: err = %v, want context.Canceled", err)
	}
	if n := p.Waiters("k"); n != 1 {
		t.Fatalf("Waiters = %d after one waiter cancelled, want 1", n)
	}
	release(t, holder)
	next := <-nextDone
	if next == nil {
		t.Fatal("next waiter got no handle")
	}
	// The key is held by next and nobody else: a fresh try must fail.
	if _, err := p.TryAcquire(context.Background(), "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("key should be held by the next waiter; TryAcquire err = %v", err)
	}
	release(t, next)
	if n := p.Len(); n != 0 {
		t.Errorf("Len() = %d, want 0", n)
	}
}
