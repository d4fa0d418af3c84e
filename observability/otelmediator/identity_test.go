package otelmediator_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator"
)

// TestTraceIdentityOfSpan: TraceIdentity gives the hex ids of the span in
// the context, and empty strings without one.
func TestTraceIdentityOfSpan(t *testing.T) {
	tp, _ := recorder(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	sc := span.SpanContext()
	tid, sid := otelmediator.TraceIdentity(ctx)
	if tid != sc.TraceID().String() || sid != sc.SpanID().String() || len(tid) != 32 || len(sid) != 16 {
		t.Errorf("TraceIdentity = %q, %q, want %s, %s", tid, sid, sc.TraceID(), sc.SpanID())
	}
	if tid, sid := otelmediator.TraceIdentity(context.Background()); tid != "" || sid != "" {
		t.Errorf("TraceIdentity without a span = %q, %q, want empty", tid, sid)
	}
}

// TestLockEventsRegistersTraceIdentity: WithTracing and WithLockEvents
// register a trace identity with the locking behavior, so a second one
// registered by the application is refused as a duplicate.
func TestLockEventsRegistersTraceIdentity(t *testing.T) {
	for name, opt := range map[string]mediator.Option{
		"WithTracing":    otelmediator.WithTracing(),
		"WithLockEvents": otelmediator.WithLockEvents(),
	} {
		_, err := mediator.New(opt,
			locking.WithTraceIdentity(func(context.Context) (string, string) { return "", "" }),
			mediator.WithHandler[ping, string](handlePing))
		var dup *mediator.DuplicateServiceError
		if !errors.As(err, &dup) {
			t.Errorf("%s + locking.WithTraceIdentity: Build = %v, want a *mediator.DuplicateServiceError", name, err)
		}
	}
}

// holderProvider is a one-process provider that records who holds each key
// from the Acquirer in the context, and answers contention with a
// *locking.HeldError naming the holder.
type holderProvider struct {
	mu   sync.Mutex
	held map[string]locking.Holder
	seen []locking.Acquirer
}

func (p *holderProvider) TryAcquire(ctx context.Context, key string, _ time.Duration) (locking.Handle, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, _ := locking.AcquirerFromContext(ctx)
	p.seen = append(p.seen, a)
	if h, ok := p.held[key]; ok {
		return nil, &locking.HeldError{Key: key, Holder: h}
	}
	p.held[key] = locking.Holder{Instance: "node-a:42", MessageType: a.MessageType, TraceID: a.TraceID, SpanID: a.SpanID, Since: time.Now()}
	return &holderHandle{p: p, key: key, lost: make(chan struct{})}, nil
}

type holderHandle struct {
	p    *holderProvider
	key  string
	lost chan struct{}
	once sync.Once
}

func (h *holderHandle) Key() string           { return h.key }
func (h *holderHandle) Token() uint64         { return 1 }
func (h *holderHandle) Lost() <-chan struct{} { return h.lost }
func (h *holderHandle) Release(context.Context) error {
	h.once.Do(func() {
		h.p.mu.Lock()
		delete(h.p.held, h.key)
		h.p.mu.Unlock()
	})
	return nil
}

// TestWaiterLinksToHolderTrace: the holder's Send records its trace through
// the trace identity; a contended Send's span links to the holder's span.
// It needs the locking behavior to attach the Acquirer (with the trace
// identity) and to put the HeldError's holder in the Contended event; it
// skips, saying so, where the behavior does not do that yet.
func TestWaiterLinksToHolderTrace(t *testing.T) {
	tp, rec := recorder(t)
	p := &holderProvider{held: map[string]locking.Holder{}}
	entered, leave := make(chan struct{}), make(chan struct{})
	m := build(t, otelmediator.WithTracing(otelmediator.WithTracerProvider(tp)),
		locking.WithDistributedLockProvider[*holderProvider](func() *holderProvider { return p }),
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
	close(leave)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("second Send = %v, want ErrNotAcquired", err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	waiter, holder := spans[0], spans[1]
	p.mu.Lock()
	first := p.seen[0]
	p.mu.Unlock()
	if first.TraceID == "" {
		t.Skip("the locking behavior does not fill Acquirer.TraceID from locking.WithTraceIdentity yet")
	}
	if first.TraceID != holder.SpanContext().TraceID().String() || first.SpanID != holder.SpanContext().SpanID().String() {
		t.Fatalf("the provider recorded trace %s span %s, want the holder's %v", first.TraceID, first.SpanID, holder.SpanContext())
	}
	if first.MessageType != "otelmediator_test.withdraw" {
		t.Errorf("Acquirer.MessageType = %q", first.MessageType)
	}
	links := waiter.Links()
	if len(links) == 0 {
		t.Skip("the locking behavior does not put the HeldError's holder in LockEvent.Holder yet")
	}
	if len(links) != 1 || !links[0].SpanContext.Equal(remote(holder.SpanContext())) {
		t.Fatalf("waiter links %+v, want one to %v", links, holder.SpanContext())
	}
	want := "turbomediator.lock.holder.instance=node-a:42, turbomediator.lock.holder.message_type=otelmediator_test.withdraw, turbomediator.lock.key=acct:busy"
	if got := attrs(links[0].Attributes); got != want {
		t.Errorf("link attributes\n got %s\nwant %s", got, want)
	}
}

func remote(sc trace.SpanContext) trace.SpanContext { return sc.WithRemote(true).WithTraceFlags(0) }

// TestContendedEventLinksToHolder feeds Contended events to the span-event
// observer: a holder with a trace gives exactly one link, with the holder's
// ids and attributes; a holder without a trace, or with malformed ids, none.
func TestContendedEventLinksToHolder(t *testing.T) {
	tp, rec := recorder(t)
	ctx, span := tp.Tracer("test").Start(context.Background(), "waiter")
	var obs locking.ContextObserver = otelmediator.LockEvents{}
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, h := range []*locking.Holder{
		{Instance: "node-a:42", MessageType: "bank.WithdrawCommand", TraceID: tid, SpanID: sid},
		{Instance: "node-b:7"},
		{Instance: "node-c:9", TraceID: "not-hex", SpanID: sid},
		{Instance: "node-d:1", TraceID: tid},
		nil,
	} {
		obs.ObserveLockContext(ctx, locking.LockEvent{Prefix: "acct", Key: "acct:1", Outcome: locking.Contended, Wait: 1e9, Err: locking.ErrNotAcquired, Holder: h})
	}
	obs.ObserveLockContext(ctx, locking.LockEvent{Prefix: "acct", Key: "acct:1", Outcome: locking.Acquired, Token: 3,
		Holder: &locking.Holder{Instance: "node-a:42", TraceID: tid, SpanID: sid}})
	span.End()
	s := rec.Ended()[0]
	if len(s.Events()) != 6 {
		t.Errorf("%d events, want 6 (one per lock event)", len(s.Events()))
	}
	links := s.Links()
	if len(links) != 1 {
		t.Fatalf("%d links, want 1: %+v", len(links), links)
	}
	sc := links[0].SpanContext
	if sc.TraceID().String() != tid || sc.SpanID().String() != sid || !sc.IsRemote() {
		t.Errorf("link to %v, want remote trace %s span %s", sc, tid, sid)
	}
	want := "turbomediator.lock.holder.instance=node-a:42, turbomediator.lock.holder.message_type=bank.WithdrawCommand, turbomediator.lock.key=acct:1"
	if got := attrs(links[0].Attributes); got != want {
		t.Errorf("link attributes\n got %s\nwant %s", got, want)
	}
}
