package otelmediator_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

func checkSpan(t *testing.T, s sdktrace.ReadOnlySpan, name, wantAttrs string, status codes.Code, desc string) {
	t.Helper()
	if s.Name() != name {
		t.Errorf("span name %q, want %q", s.Name(), name)
	}
	if s.SpanKind() != trace.SpanKindInternal {
		t.Errorf("span %s kind %v, want internal", s.Name(), s.SpanKind())
	}
	if got := attrs(s.Attributes()); got != wantAttrs {
		t.Errorf("span %s attributes\n got %s\nwant %s", s.Name(), got, wantAttrs)
	}
	if s.Status().Code != status || s.Status().Description != desc {
		t.Errorf("span %s status %v %q, want %v %q", s.Name(), s.Status().Code, s.Status().Description, status, desc)
	}
	if s.InstrumentationScope().Name != otelmediator.ScopeName {
		t.Errorf("span %s scope %q, want %q", s.Name(), s.InstrumentationScope().Name, otelmediator.ScopeName)
	}
}

// TestTracingSpanPerSend: the global form opens one span per Send, named
// after the type, with the type and the outcome; a failure is recorded as an
// exception event and sets the status; the handler runs inside the span.
func TestTracingSpanPerSend(t *testing.T) {
	tp, rec := recorder(t)
	var inside trace.SpanContext
	m := build(t, otelmediator.WithTracing(otelmediator.WithTracerProvider(tp)),
		mediator.WithHandler[ping, string](func(ctx context.Context, p ping) (string, error) {
			inside = trace.SpanContextFromContext(ctx)
			return handlePing(ctx, p)
		}))
	ctx := context.Background()
	if _, err := mediator.Send(ctx, m, ping{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mediator.Send(ctx, m, ping{Fail: true}); !errors.Is(err, errPing) {
		t.Fatalf("Send = %v, want errPing", err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	checkSpan(t, spans[0], "otelmediator_test.ping",
		"turbomediator.message.type=otelmediator_test.ping, turbomediator.operation=send, turbomediator.outcome=ok", codes.Unset, "")
	if got := events(spans[0]); got != "" {
		t.Errorf("events of a success: %q, want none", got)
	}
	checkSpan(t, spans[1], "otelmediator_test.ping",
		"turbomediator.message.type=otelmediator_test.ping, turbomediator.operation=send, turbomediator.outcome=error", codes.Error, "ping failed")
	want := "exception: exception.message=ping failed, exception.type=*errors.errorString\n"
	if got := events(spans[1]); got != want {
		t.Errorf("events of a failure:\n got %q\nwant %q", got, want)
	}
	if !inside.Equal(spans[1].SpanContext()) {
		t.Errorf("the handler ran in span %v, want %v", inside, spans[1].SpanContext())
	}
}

// TestTypeTracingSpanAndPanic: the per-type form opens the same span; a
// panic ends it as failed and goes on up.
func TestTypeTracingSpanAndPanic(t *testing.T) {
	tp, rec := recorder(t)
	m := build(t, otelmediator.WithTypeTracing[ping, string](otelmediator.WithTracerProvider(tp)),
		mediator.WithHandler[ping, string](handlePing))
	if _, err := mediator.Send(context.Background(), m, ping{}); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != "ping panicked" {
				t.Errorf("recovered %v, want the handler's panic", p)
			}
		}()
		_, _ = mediator.Send(context.Background(), m, ping{Panic: true})
	}()
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	checkSpan(t, spans[0], "otelmediator_test.ping",
		"turbomediator.message.type=otelmediator_test.ping, turbomediator.operation=send, turbomediator.outcome=ok", codes.Unset, "")
	checkSpan(t, spans[1], "otelmediator_test.ping",
		"turbomediator.message.type=otelmediator_test.ping, turbomediator.operation=send, turbomediator.outcome=panic", codes.Error, "panic")
}

// TestTracingLockEvents: with the locking behavior inside, the span gets an
// event per lock outcome, and a contended lock is the span's outcome.
func TestTracingLockEvents(t *testing.T) {
	tp, rec := recorder(t)
	entered, leave := make(chan struct{}), make(chan struct{})
	m := build(t, otelmediator.WithTracing(otelmediator.WithTracerProvider(tp)),
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[withdraw, int](),
		mediator.WithHandler[withdraw, int](func(ctx context.Context, w withdraw) (int, error) {
			if w.ID == "busy" {
				close(entered)
				<-leave
			}
			return 1, nil
		}))
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { _, err := mediator.Send(ctx, m, withdraw{ID: "busy"}); done <- err }()
	<-entered
	_, err := mediator.Send(ctx, m, withdraw{ID: "busy"})
	var le *locking.Error
	if !errors.As(err, &le) || le.Key != "acct:busy" {
		t.Fatalf("second Send = %v, want a *locking.Error for acct:busy", err)
	}
	close(leave)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	contended, held := spans[0], spans[1]
	checkSpan(t, contended, "otelmediator_test.withdraw",
		"turbomediator.message.type=otelmediator_test.withdraw, turbomediator.operation=send, turbomediator.outcome=lock_not_acquired",
		codes.Error, err.Error())
	want := "turbomediator.lock.contended: turbomediator.lock.key=acct:busy, turbomediator.lock.wait=<float64>\n" +
		"exception: exception.message=" + err.Error() + ", exception.type=*locking.Error\n"
	if got := events(contended, otelmediator.LockWaitKey); got != want {
		t.Errorf("events of the contended span:\n got %q\nwant %q", got, want)
	}
	checkSpan(t, held, "otelmediator_test.withdraw",
		"turbomediator.message.type=otelmediator_test.withdraw, turbomediator.operation=send, turbomediator.outcome=ok", codes.Unset, "")
	want = "turbomediator.lock.acquired: turbomediator.lock.key=acct:busy, turbomediator.lock.token=1, turbomediator.lock.wait=<float64>\n" +
		"turbomediator.lock.released: turbomediator.lock.hold=<float64>, turbomediator.lock.key=acct:busy, turbomediator.lock.token=1\n"
	if got := events(held, otelmediator.LockWaitKey, otelmediator.LockHoldKey); got != want {
		t.Errorf("events of the holder's span:\n got %q\nwant %q", got, want)
	}
}

// TestLockEventsExact feeds known events to the span-event observer: every
// attribute exactly, and a loss marks the span.
func TestLockEventsExact(t *testing.T) {
	tp, rec := recorder(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	var obs locking.ContextObserver = otelmediator.LockEvents{}
	boom := errors.New("redis down")
	for _, e := range []locking.LockEvent{
		{Prefix: "acct", Key: "acct:1", Outcome: locking.Unavailable, Wait: 1500 * 1e6, Err: boom},
		{Prefix: "acct", Key: "acct:1", Outcome: locking.Acquired, Wait: 250 * 1e6, Token: 7},
		{Prefix: "acct", Key: "acct:1", Outcome: locking.Lost, Hold: 2 * 1e9, Token: 7, Err: locking.ErrLockLost},
		{Prefix: "acct", Key: "acct:1", Outcome: locking.Released, Hold: 2500 * 1e6, Token: 7},
	} {
		obs.ObserveLockContext(ctx, e)
	}
	obs.ObserveLock(locking.LockEvent{Key: "ignored", Outcome: locking.Acquired})
	obs.ObserveLockContext(context.Background(), locking.LockEvent{Key: "no span", Outcome: locking.Acquired})
	span.End()
	s := rec.Ended()[0]
	want := "turbomediator.lock.unavailable: turbomediator.lock.error=redis down, turbomediator.lock.key=acct:1, turbomediator.lock.wait=1.5\n" +
		"turbomediator.lock.acquired: turbomediator.lock.key=acct:1, turbomediator.lock.token=7, turbomediator.lock.wait=0.25\n" +
		"turbomediator.lock.lost: turbomediator.lock.error=" + locking.ErrLockLost.Error() + ", turbomediator.lock.hold=2, turbomediator.lock.key=acct:1, turbomediator.lock.token=7\n" +
		"turbomediator.lock.released: turbomediator.lock.hold=2.5, turbomediator.lock.key=acct:1, turbomediator.lock.token=7\n"
	if got := events(s); got != want {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
	if got := attrs(s.Attributes()); got != "turbomediator.lock.lost=true" {
		t.Errorf("span attributes %q, want the loss mark", got)
	}
	if s.Status().Code != codes.Error || s.Status().Description != "lock lost: acct:1" {
		t.Errorf("status %v %q, want Error \"lock lost: acct:1\"", s.Status().Code, s.Status().Description)
	}
}

// TestTracingWithoutSDKStartsNoSpan: with the global provider and no SDK
// installed (as in this test binary), or with a no-op provider, the handler
// sees no span and neither form allocates.
func TestTracingWithoutSDKStartsNoSpan(t *testing.T) {
	for name, opts := range map[string][]otelmediator.Option{
		"global": nil,
		"noop":   {otelmediator.WithTracerProvider(noop.NewTracerProvider())},
	} {
		var inside trace.Span
		handler := mediator.WithHandler[ping, string](func(ctx context.Context, p ping) (string, error) {
			inside = trace.SpanFromContext(ctx)
			return "pong", nil
		})
		for form, opt := range map[string]mediator.Option{
			"WithTracing":     otelmediator.WithTracing(opts...),
			"WithTypeTracing": otelmediator.WithTypeTracing[ping, string](opts...),
		} {
			m := build(t, opt, handler)
			if _, err := mediator.Send(context.Background(), m, ping{}); err != nil {
				t.Fatal(err)
			}
			if inside.SpanContext().IsValid() || inside.IsRecording() {
				t.Errorf("%s, %s: the handler saw span %v", name, form, inside.SpanContext())
			}
			ctx := context.Background()
			allocs := testing.AllocsPerRun(100, func() { _, _ = mediator.Send(ctx, m, ping{}) })
			if allocs != 0 {
				t.Errorf("%s, %s: %v allocations per Send, want 0", name, form, allocs)
			}
		}
	}
}

// TestRegistrationPointsAtTheUsersLine: a Build error about a type traced
// with WithTypeTracing names the user's line, not this package's.
func TestRegistrationPointsAtTheUsersLine(t *testing.T) {
	_, err := mediator.New(otelmediator.WithTypeTracing[ping, string]()) // no handler
	if !errors.Is(err, mediator.ErrNoHandler) || !strings.Contains(err.Error(), "otelmediator/tracing_test.go:") {
		t.Fatalf("Build = %v, want ErrNoHandler naming tracing_test.go", err)
	}
}
