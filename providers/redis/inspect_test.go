package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// holderCtx labels acquisitions the way the locking behavior does.
func holderCtx(t *testing.T) context.Context {
	return locking.ContextWithAcquirer(ctxT(t), locking.Acquirer{
		MessageType: "bank.WithdrawCommand",
		TraceID:     "4bf92f3577b34da6a3ce929d0e0e4736",
		SpanID:      "00f067aa0ba902b7",
	})
}

func TestInspectReadsBackTheHolderRecordedWithTheLock(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), &redislocks.Options{Instance: "bank-7|eu%1", TTL: 10 * time.Second})
	ctx := holderCtx(t)
	before := time.Now()
	h, err := p.TryAcquire(ctx, "acct:42", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()

	info, err := p.Inspect(ctxT(t), "acct:42")
	if err != nil {
		t.Fatal(err)
	}
	want := locking.Holder{
		Instance:    "bank-7|eu%1", // the separator and the escape survive
		MessageType: "bank.WithdrawCommand",
		TraceID:     "4bf92f3577b34da6a3ce929d0e0e4736",
		SpanID:      "00f067aa0ba902b7",
	}
	got := info.Holder
	got.Since = time.Time{}
	if got != want || !info.Held || info.Key != "acct:42" || info.Token != h.Token() {
		t.Fatalf("Inspect = %+v, want held by %+v with token %d", info, want, h.Token())
	}
	// Since is this process's clock as the granting call was sent.
	if info.Holder.Since.Before(before.Truncate(time.Microsecond)) || info.Holder.Since.After(after) {
		t.Fatalf("Since = %s, want between %s and %s", info.Holder.Since, before, after)
	}
	if info.LeaseLeft <= 0 || info.LeaseLeft > 10*time.Second {
		t.Fatalf("LeaseLeft = %s, want in (0, 10s]", info.LeaseLeft)
	}
	if info.HeldFor < 0 || info.HeldFor > time.Since(before)+time.Millisecond {
		t.Fatalf("HeldFor = %s, want in [0, %s]", info.HeldFor, time.Since(before))
	}
	if info.Waiters != 0 {
		t.Fatalf("Waiters = %d, want 0", info.Waiters)
	}

	if err := h.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	info, err = p.Inspect(ctxT(t), "acct:42")
	if err != nil {
		t.Fatal(err)
	}
	if info != (locking.LockInfo{Key: "acct:42"}) {
		t.Fatalf("Inspect after Release = %+v, want only the key, not held", info)
	}
}

func TestInspectWithoutAcquirerRecordsTheInstanceAlone(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	h, err := p.TryAcquire(ctxT(t), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctxT(t))
	info, err := p.Inspect(ctxT(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	if info.Holder.Instance != locking.DefaultInstance() || info.Holder.MessageType != "" || info.Holder.TraceID != "" || info.Holder.Since.IsZero() {
		t.Fatalf("Holder = %+v, want instance %q and a grant time only", info.Holder, locking.DefaultInstance())
	}
}

func TestInspectCountsThisProcessWaiters(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	h, err := p.TryAcquire(ctxT(t), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	for range 2 {
		go func() {
			h, err := p.TryAcquire(ctxT(t), "k", 30*time.Second)
			if err == nil {
				err = h.Release(context.Background())
			}
			done <- err
		}()
	}
	waitFor(t, "two waiters", func() bool { return p.Waiters("k") == 2 })
	info, err := p.Inspect(ctxT(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	if !info.Held || info.Waiters != 2 || info.Token != h.Token() {
		t.Fatalf("Inspect = %+v, want held with token %d and 2 waiters", info, h.Token())
	}
	if err := h.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestInspectOfAHandedOnLockNamesTheNewHolder(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	h, err := p.TryAcquire(ctxT(t), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan locking.Handle, 1)
	go func() {
		ctx := locking.ContextWithAcquirer(context.Background(), locking.Acquirer{MessageType: "waiter"})
		h2, err := p.TryAcquire(ctx, "k", 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- h2
	}()
	waitFor(t, "the waiter", func() bool { return p.Waiters("k") == 1 })
	if err := h.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	h2 := <-got
	if h2 == nil {
		return
	}
	defer h2.Release(ctxT(t))
	info, err := p.Inspect(ctxT(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	if info.Holder.MessageType != "waiter" || info.Token != h2.Token() || info.Holder.Since.IsZero() {
		t.Fatalf("Inspect = %+v, want the waiter's holder and token %d", info, h2.Token())
	}
}

func TestInspectWhenRedisIsDownIsUnavailable(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), &redislocks.Options{DialTimeout: 2 * time.Second})
	srv.Stop()
	_, err := p.Inspect(ctxT(t), "k")
	var ue *locking.UnavailableError
	if !errors.Is(err, locking.ErrUnavailable) || !errors.As(err, &ue) || ue.Key != "k" {
		t.Fatalf("Inspect with Redis stopped = %v, want *locking.UnavailableError for \"k\"", err)
	}
}

func TestContentionNamesTheHolder(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	holder := newProvider(t, srv.Addr(), &redislocks.Options{Instance: "holder-1"})
	other := newProvider(t, srv.Addr(), &redislocks.Options{Instance: "other-2"})
	h, err := holder.TryAcquire(holderCtx(t), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctxT(t))

	for _, timeout := range []time.Duration{0, 200 * time.Millisecond} {
		_, err := other.TryAcquire(ctxT(t), "k", timeout)
		var he *locking.HeldError
		var le *locking.Error
		if !errors.As(err, &he) || !errors.As(err, &le) || !errors.Is(err, locking.ErrNotAcquired) {
			t.Fatalf("timeout %s: err = %v, want *locking.HeldError and *locking.Error (ErrNotAcquired)", timeout, err)
		}
		if errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("timeout %s: contention %v matches ErrUnavailable", timeout, err)
		}
		if le.Key != "k" || le.Timeout != timeout || he.Key != "k" {
			t.Fatalf("timeout %s: err = %+v / %+v, want key \"k\" and the timeout", timeout, le, he)
		}
		if he.Holder.Instance != "holder-1" || he.Holder.MessageType != "bank.WithdrawCommand" ||
			he.Holder.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || he.Holder.Since.IsZero() {
			t.Fatalf("timeout %s: holder = %+v, want holder-1's WithdrawCommand and trace", timeout, he.Holder)
		}
		if !strings.Contains(err.Error(), "holder-1") {
			t.Fatalf("timeout %s: %q does not name the holder", timeout, err)
		}
	}
}

func TestContentionWithAForeignValueKeepsThePlainError(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	lock, _ := p.StorageKeys("k")
	rdb := newClient(t, srv.Addr())
	if err := rdb.Set(ctxT(t), lock, "someone-else", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := p.TryAcquire(ctxT(t), "k", 0)
	var he *locking.HeldError
	var le *locking.Error
	if !errors.As(err, &le) || errors.As(err, &he) {
		t.Fatalf("err = %v, want a plain *locking.Error", err)
	}
	info, err := p.Inspect(ctxT(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	if !info.Held || info.Holder != (locking.Holder{}) || info.LeaseLeft <= 0 {
		t.Fatalf("Inspect = %+v, want held, no holder record, a lease", info)
	}
}

func TestHolderRecordStaysSmall(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), &redislocks.Options{Instance: "bank-api-7f9c:4242"})
	h, err := p.TryAcquire(holderCtx(t), "acct:42", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctxT(t))
	lock, _ := p.StorageKeys("acct:42")
	rdb := newClient(t, srv.Addr())
	n, err := rdb.StrLen(ctxT(t), lock).Result()
	if err != nil {
		t.Fatal(err)
	}
	mem, err := rdb.MemoryUsage(ctxT(t), lock).Result()
	if err != nil {
		t.Fatal(err)
	}
	// owner id 18-20, instance 18, message type 20, trace 32, span 16,
	// grant µs 16, 5 separators.
	if n > 130 {
		t.Fatalf("the lock's value is %d bytes, want at most 130", n)
	}
	t.Logf("lock value: %d bytes (MEMORY USAGE %d bytes)", n, mem)
}
