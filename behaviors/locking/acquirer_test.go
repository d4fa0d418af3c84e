package locking_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// acquirerProvider grants everything, like the no-op provider, and keeps
// what each TryAcquire found in its context.
type acquirerProvider struct {
	mu      sync.Mutex
	seen    []seenContext
	handles map[string]*sharedHandle
}

type seenContext struct {
	key      string
	acquirer locking.Acquirer
	ok       bool
	trace    any // the caller's value for traceKey{}
}

func (p *acquirerProvider) TryAcquire(ctx context.Context, key string, _ time.Duration) (locking.Handle, error) {
	a, ok := locking.AcquirerFromContext(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, seenContext{key: key, acquirer: a, ok: ok, trace: ctx.Value(traceKey{})})
	h := p.handles[key]
	if h == nil {
		h = &sharedHandle{key}
		if p.handles == nil {
			p.handles = map[string]*sharedHandle{}
		}
		p.handles[key] = h
	}
	return h, nil
}

// sharedHandle is a handle made once per key, so that handing it out again
// costs no allocation.
type sharedHandle struct{ key string }

func (h sharedHandle) Key() string                   { return h.key }
func (h sharedHandle) Token() uint64                 { return 1 }
func (h sharedHandle) Lost() <-chan struct{}         { return nil }
func (h sharedHandle) Release(context.Context) error { return nil }

func (p *acquirerProvider) option() mediator.Option {
	return locking.WithDistributedLockProvider[*acquirerProvider](func() *acquirerProvider { return p })
}

// traceFromContext is a WithTraceIdentity function reading ids a test put
// in the context.
type spanIDs struct{ trace, span string }

type spanKey struct{}

func traceFromContext(ctx context.Context) (string, string) {
	ids, _ := ctx.Value(spanKey{}).(spanIDs)
	return ids.trace, ids.span
}

func TestBehaviorGivesTheProviderTheMessagesAcquirer(t *testing.T) {
	p := &acquirerProvider{}
	m := build(t, p.option(),
		locking.WithDistributedLocking[AccountCommand, int](),
		locking.WithDistributedLocking[TransferCommand, mediator.Unit](),
		locking.WithGlobalDistributedLocking(),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }),
		mediator.WithHandler[TransferCommand, mediator.Unit](unitHandler[TransferCommand]),
		mediator.WithHandler[RunDailyReportCommand, []string](func(context.Context, RunDailyReportCommand) ([]string, error) { return nil, nil }),
	)
	ctx := context.WithValue(context.Background(), traceKey{}, "req-7")
	if _, err := mediator.Send(ctx, m, AccountCommand{ID: "42"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mediator.Send(ctx, m, TransferCommand{From: "a", To: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mediator.Send(ctx, m, RunDailyReportCommand{}); err != nil {
		t.Fatal(err)
	}
	want := []seenContext{
		{key: "account:42", acquirer: locking.Acquirer{MessageType: "locking_test.AccountCommand"}, ok: true, trace: "req-7"},
		{key: "account:a", acquirer: locking.Acquirer{MessageType: "locking_test.TransferCommand"}, ok: true, trace: "req-7"},
		{key: "account:b", acquirer: locking.Acquirer{MessageType: "locking_test.TransferCommand"}, ok: true, trace: "req-7"},
		{key: "RunDailyReportCommand", acquirer: locking.Acquirer{MessageType: "locking_test.RunDailyReportCommand"}, ok: true, trace: "req-7"},
	}
	if len(p.seen) != len(want) {
		t.Fatalf("provider saw %+v, want %+v", p.seen, want)
	}
	for i := range want {
		if p.seen[i] != want[i] {
			t.Errorf("TryAcquire %d saw %+v, want %+v", i, p.seen[i], want[i])
		}
	}
}

func TestTraceIdentityLabelsTheAcquirer(t *testing.T) {
	p := &acquirerProvider{}
	m := build(t, p.option(),
		locking.WithTraceIdentity(traceFromContext),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }),
	)
	ctx := context.WithValue(context.Background(), spanKey{}, spanIDs{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"})
	if _, err := mediator.Send(ctx, m, AccountCommand{ID: "42"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: "43"}); err != nil {
		t.Fatal(err)
	}
	want := []locking.Acquirer{
		{MessageType: "locking_test.AccountCommand", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"},
		{MessageType: "locking_test.AccountCommand"}, // no span: empty ids
	}
	for i, w := range want {
		if got := p.seen[i].acquirer; !p.seen[i].ok || got != w {
			t.Errorf("Send %d: provider saw %+v (%v), want %+v", i, got, p.seen[i].ok, w)
		}
	}
}

// On the memory provider the holder read back from inside the handler is
// the Send's: its message type and span, the provider's instance name.
func TestMemoryRecordsTheSendAsHolder(t *testing.T) {
	p := memory.New(memory.WithInstance("node-a"))
	var got locking.LockInfo
	var inspectErr error
	m := build(t, withMemory(p),
		locking.WithTraceIdentity(traceFromContext),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, _ AccountCommand) (int, error) {
			got, inspectErr = p.Inspect(ctx, "account:42")
			return 0, nil
		}),
	)
	ctx := context.WithValue(context.Background(), spanKey{}, spanIDs{"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"})
	if _, err := mediator.Send(ctx, m, AccountCommand{ID: "42"}); err != nil || inspectErr != nil {
		t.Fatalf("Send: %v, Inspect: %v", err, inspectErr)
	}
	want := locking.Holder{Instance: "node-a", MessageType: "locking_test.AccountCommand", TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331"}
	got.Holder.Since = time.Time{}
	if !got.Held || got.Holder != want {
		t.Fatalf("Inspect from the handler: held %v, %+v; want %+v", got.Held, got.Holder, want)
	}
	if info, _ := p.Inspect(context.Background(), "account:42"); info.Held {
		t.Fatalf("after Send: %+v, want not held", info)
	}
}

// RunLocked has no message: the provider gets the caller's context as it
// is, Acquirer included.
func TestRunLockedPassesTheCallersAcquirer(t *testing.T) {
	p := &acquirerProvider{}
	mine := locking.Acquirer{MessageType: "cron.Nightly"}
	ctx := locking.ContextWithAcquirer(context.Background(), mine)
	if err := locking.RunLocked(ctx, p, "nightly", 0, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(p.seen) != 1 || p.seen[0].acquirer != mine {
		t.Fatalf("provider saw %+v, want %+v", p.seen, mine)
	}
}

// Handing the Acquirer over costs no allocation: a provider that reads it
// and allocates nothing itself leaves the scope as the Send's only
// allocation, and so does the memory provider with a trace identity.
func TestAcquirerCostsNoAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	ids := spanIDs{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"}
	ctx := context.WithValue(context.Background(), spanKey{}, ids)
	p := &acquirerProvider{seen: make([]seenContext, 0, 1000)}
	_, _ = p.TryAcquire(ctx, "RunDailyReportCommand", 0) // makes its handle
	m := build(t, p.option(),
		locking.WithDistributedLocking[RunDailyReportCommand, []string](),
		mediator.WithHandler[RunDailyReportCommand, []string](func(context.Context, RunDailyReportCommand) ([]string, error) { return nil, nil }),
	)
	if got := testing.AllocsPerRun(200, func() { _, _ = mediator.Send(ctx, m, RunDailyReportCommand{}) }); got != 1 {
		t.Errorf("a provider reading the Acquirer: %v allocations per Send, want 1 (the scope)", got)
	}
	mm := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithTraceIdentity(traceFromContext),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }),
	)
	if got := testing.AllocsPerRun(200, func() { _, _ = mediator.Send(ctx, mm, AccountCommand{ID: "42"}) }); got != 1 {
		t.Errorf("memory with a trace identity: %v allocations per Send, want 1 (the scope)", got)
	}
}
