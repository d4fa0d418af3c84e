package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/grant"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

var _ locking.Inspector = (*memory.Provider)(nil)

var (
	ann = locking.Acquirer{MessageType: "bank.WithdrawCommand", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}
	bob = locking.Acquirer{MessageType: "bank.DepositCommand", TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331"}
)

func inspect(t *testing.T, p *memory.Provider, key string) locking.LockInfo {
	t.Helper()
	info, err := p.Inspect(context.Background(), key)
	if err != nil {
		t.Fatalf("Inspect(%q): %v", key, err)
	}
	if info.Key != key {
		t.Fatalf("Inspect(%q).Key = %q", key, info.Key)
	}
	return info
}

// wantHolder checks info's holder against the instance and acquirer that
// took the lock between before and after (by the wall clock, with a second
// of slack for a clock stepped meanwhile).
func wantHolder(t *testing.T, info locking.LockInfo, instance string, a locking.Acquirer, before, after time.Time) {
	t.Helper()
	h := info.Holder
	if !info.Held || h.Instance != instance || h.MessageType != a.MessageType || h.TraceID != a.TraceID || h.SpanID != a.SpanID {
		t.Fatalf("Held %v, Holder %+v; want held by %s, %+v", info.Held, h, instance, a)
	}
	if h.Since.Before(before.Add(-time.Second)) || h.Since.After(after.Add(time.Second)) {
		t.Errorf("Holder.Since = %s, want between %s and %s", h.Since, before, after)
	}
	if info.LeaseLeft != 0 {
		t.Errorf("LeaseLeft = %s, want 0: an in-process lock has no lease", info.LeaseLeft)
	}
}

func TestInspectReadsBackTheHolder(t *testing.T) {
	p := memory.New(memory.WithInstance("node-a"))
	if info := inspect(t, p, "account:42"); info.Held {
		t.Fatalf("before any grant: %+v", info)
	}
	ctx := locking.ContextWithAcquirer(context.Background(), ann)
	before := time.Now()
	h, err := p.TryAcquire(ctx, "account:42", 0)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	info := inspect(t, p, "account:42")
	wantHolder(t, info, "node-a", ann, before, after)
	if info.Token != h.Token() {
		t.Errorf("Token = %d, want the handle's %d", info.Token, h.Token())
	}
	if info.Waiters != 0 {
		t.Errorf("Waiters = %d, want 0", info.Waiters)
	}
	if info.HeldFor < 0 || info.HeldFor > time.Since(before) {
		t.Errorf("HeldFor = %s, want between 0 and %s", info.HeldFor, time.Since(before))
	}
	release(t, h)
	if info := inspect(t, p, "account:42"); info != (locking.LockInfo{Key: "account:42"}) {
		t.Errorf("after release: %+v, want only the key (not held, no holder, no waiters)", info)
	}
}

func TestInspectHolderDefaults(t *testing.T) {
	t.Run("instance is host:pid", func(t *testing.T) {
		p := memory.New()
		h := mustAcquire(t, p, "k")
		defer release(t, h)
		if got := inspect(t, p, "k").Holder; got.Instance != locking.DefaultInstance() || got.MessageType != "" || got.TraceID != "" {
			t.Fatalf("Holder = %+v, want Instance %q and no acquirer (none in the context)", got, locking.DefaultInstance())
		}
	})
	t.Run("zero value provider", func(t *testing.T) {
		var p memory.Provider
		h := mustAcquire(t, &p, "k")
		defer release(t, h)
		if got := inspect(t, &p, "k").Holder.Instance; got != locking.DefaultInstance() {
			t.Fatalf("Instance = %q, want %q", got, locking.DefaultInstance())
		}
	})
	t.Run("a key never locked", func(t *testing.T) {
		if info := inspect(t, memory.New(), "k"); info != (locking.LockInfo{Key: "k"}) {
			t.Fatalf("Inspect = %+v, want not held", info)
		}
	})
}

// The behavior's fast path passes the holder's identity as an argument, not
// in the context.
func TestTryAcquireGrantRecordsTheIdentity(t *testing.T) {
	p := memory.New(memory.WithInstance("node-a"))
	inspect(t, p, "k") // grants are timed from the first Inspect on
	var g grant.Grant
	before := time.Now()
	id := grant.Identity{MessageType: ann.MessageType, TraceID: ann.TraceID, SpanID: ann.SpanID}
	if err := p.TryAcquireGrant(context.Background(), "k", 0, &g, id); err != nil {
		t.Fatal(err)
	}
	info := inspect(t, p, "k")
	wantHolder(t, info, "node-a", ann, before, time.Now())
	if info.Token != g.Token() {
		t.Errorf("Token = %d, want %d", info.Token, g.Token())
	}
	release(t, &g)
	if inspect(t, p, "k").Held {
		t.Fatal("held after release")
	}
}

// While a second caller waits, Inspect counts it and still names the first;
// the release hands the key over and the holder becomes the second, with
// the new token.
func TestInspectCountsWaitersAndFollowsTheHandover(t *testing.T) {
	p := memory.New(memory.WithInstance("node-a"))
	queued := make(chan struct{}, 2)
	memory.OnQueued(p, func(string) { queued <- struct{}{} })
	first, err := p.TryAcquire(locking.ContextWithAcquirer(context.Background(), ann), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		h   locking.Handle
		err error
	}
	got := make(chan result, 2)
	for range 2 {
		go func() {
			h, err := p.TryAcquire(locking.ContextWithAcquirer(context.Background(), bob), "k", time.Minute)
			got <- result{h, err}
		}()
		<-queued
	}
	info := inspect(t, p, "k")
	if info.Waiters != 2 || info.Holder.MessageType != ann.MessageType || info.Token != first.Token() {
		t.Fatalf("while two wait: Waiters %d, holder %q, token %d; want 2, %q, %d",
			info.Waiters, info.Holder.MessageType, info.Token, ann.MessageType, first.Token())
	}
	before := time.Now()
	release(t, first)
	second := <-got
	if second.err != nil {
		t.Fatal(second.err)
	}
	info = inspect(t, p, "k")
	wantHolder(t, info, "node-a", bob, before, time.Now())
	if info.Waiters != 1 || info.Token != second.h.Token() {
		t.Fatalf("after the handover: Waiters %d, token %d; want 1, %d", info.Waiters, info.Token, second.h.Token())
	}
	release(t, second.h)
	third := <-got
	if third.err != nil {
		t.Fatal(third.err)
	}
	release(t, third.h)
	if info := inspect(t, p, "k"); info.Held || info.Waiters != 0 {
		t.Fatalf("after the last release: %+v, want not held, no waiters", info)
	}
}

// A caller that gives up on a held key learns who held it: a
// *locking.HeldError, which is also the *locking.Error of the contract.
func TestContentionNamesTheHolder(t *testing.T) {
	p := memory.New(memory.WithInstance("node-a"))
	h, err := p.TryAcquire(locking.ContextWithAcquirer(context.Background(), ann), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer release(t, h)
	ctx := locking.ContextWithAcquirer(context.Background(), bob)
	for _, timeout := range []time.Duration{0, 20 * time.Millisecond} {
		_, err := p.TryAcquire(ctx, "k", timeout)
		var held *locking.HeldError
		if !errors.As(err, &held) {
			t.Fatalf("timeout %s: err = %v, want a *locking.HeldError", timeout, err)
		}
		if held.Key != "k" || held.Holder.Instance != "node-a" || held.Holder.MessageType != ann.MessageType || held.Holder.TraceID != ann.TraceID {
			t.Errorf("timeout %s: HeldError %+v, want key k held by node-a for %+v", timeout, held, ann)
		}
		var le *locking.Error
		if !errors.As(err, &le) || le.Key != "k" || le.Timeout != timeout {
			t.Errorf("timeout %s: err = %v, want a *locking.Error{k, %s} too", timeout, err, timeout)
		}
		if !errors.Is(err, locking.ErrNotAcquired) || errors.Is(err, locking.ErrUnavailable) {
			t.Errorf("timeout %s: err = %v, want ErrNotAcquired and not ErrUnavailable", timeout, err)
		}
		want := `locking: "k" not acquired within ` + timeout.String() + ": held by node-a for bank.WithdrawCommand"
		if err.Error() != want {
			t.Errorf("timeout %s: message %q, want %q", timeout, err.Error(), want)
		}
	}
	if n := inspect(t, p, "k").Waiters; n != 0 {
		t.Fatalf("Waiters = %d after both gave up, want 0", n)
	}
}

func TestInspectWithEndedContextFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := memory.New().Inspect(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Inspect = %v, want context.Canceled", err)
	}
}

func TestWithInstanceString(t *testing.T) {
	if got := memory.WithInstance("node-a").String(); got != `memory.WithInstance("node-a")` {
		t.Fatalf("String() = %s", got)
	}
}

// Grant times cost a clock read per grant, paid only once someone has
// asked: a key granted before the first Inspect has no Since, one granted
// after has, handovers included.
func TestGrantTimesStartWithTheFirstInspect(t *testing.T) {
	p := memory.New()
	early := mustAcquire(t, p, "early")
	info := inspect(t, p, "early")
	if !info.Held || !info.Holder.Since.IsZero() || info.HeldFor != 0 {
		t.Fatalf("granted before the first Inspect: Since %s, HeldFor %s; want held, zero, 0", info.Holder.Since, info.HeldFor)
	}
	before := time.Now()
	late := mustAcquire(t, p, "late")
	if since := inspect(t, p, "late").Holder.Since; since.Before(before.Add(-time.Second)) || since.After(time.Now().Add(time.Second)) {
		t.Fatalf("granted after the first Inspect: Since %s, want about %s", since, before)
	}
	queued := make(chan struct{}, 1)
	memory.OnQueued(p, func(string) { queued <- struct{}{} })
	got := make(chan locking.Handle, 1)
	go func() {
		h, err := p.TryAcquire(context.Background(), "early", time.Minute)
		if err != nil {
			t.Error(err)
		}
		got <- h
	}()
	<-queued
	release(t, early)
	next := <-got
	if inspect(t, p, "early").Holder.Since.IsZero() {
		t.Error("handed over after the first Inspect: Since is zero")
	}
	release(t, next)
	release(t, late)
}
