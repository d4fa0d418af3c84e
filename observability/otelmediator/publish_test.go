package otelmediator_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator"
)

// opened is a notification; Fail makes its second handler fail.
type opened struct {
	mediator.Notification
	Fail bool
}

var errOpened = errors.New("mailer down")

// publishHandlers are two handlers of opened that note the span they ran in.
func publishHandlers(inside *[]trace.SpanContext) []mediator.Option {
	note := func(ctx context.Context) { *inside = append(*inside, trace.SpanContextFromContext(ctx)) }
	return []mediator.Option{
		mediator.WithNotificationHandler[opened](mediator.NotificationHandlerFunc[opened](func(ctx context.Context, n opened) error {
			note(ctx)
			return nil
		})),
		mediator.WithNotificationHandler[opened](mediator.NotificationHandlerFunc[opened](func(ctx context.Context, n opened) error {
			note(ctx)
			if n.Fail {
				return errOpened
			}
			return nil
		})),
	}
}

// TestTracingSpanPerPublish: both the global form (WithTracing) and the
// per-type form open one span per Publish, covering every handler, with the
// type, the operation and the outcome; a failed handler is recorded and
// sets the status.
func TestTracingSpanPerPublish(t *testing.T) {
	for _, form := range []string{"WithTracing", "WithNotificationTracing"} {
		t.Run(form, func(t *testing.T) {
			tp, rec := recorder(t)
			var inside []trace.SpanContext
			opt := otelmediator.WithTracing(otelmediator.WithTracerProvider(tp))
			if form == "WithNotificationTracing" {
				opt = otelmediator.WithNotificationTracing[opened](otelmediator.WithTracerProvider(tp))
			}
			m := build(t, append(publishHandlers(&inside), opt)...)
			ctx := context.Background()
			if err := mediator.Publish(ctx, m, opened{}); err != nil {
				t.Fatal(err)
			}
			err := mediator.Publish(ctx, m, opened{Fail: true})
			if !errors.Is(err, errOpened) {
				t.Fatalf("Publish = %v, want errOpened", err)
			}
			spans := rec.Ended()
			if len(spans) != 2 {
				t.Fatalf("%d spans, want 2 (one per Publish)", len(spans))
			}
			checkSpan(t, spans[0], "otelmediator_test.opened",
				"turbomediator.message.type=otelmediator_test.opened, turbomediator.operation=publish, turbomediator.outcome=ok", codes.Unset, "")
			if got := events(spans[0]); got != "" {
				t.Errorf("events of a success: %q, want none", got)
			}
			checkSpan(t, spans[1], "otelmediator_test.opened",
				"turbomediator.message.type=otelmediator_test.opened, turbomediator.operation=publish, turbomediator.outcome=error", codes.Error, err.Error())
			want := "exception: exception.message=" + err.Error() + ", exception.type=*errors.joinError\n"
			if got := events(spans[1]); got != want {
				t.Errorf("events of a failure:\n got %q\nwant %q", got, want)
			}
			if len(inside) != 4 {
				t.Fatalf("handlers ran %d times, want 4", len(inside))
			}
			for i, sc := range inside {
				if span := spans[i/2].SpanContext(); !sc.Equal(span) {
					t.Errorf("handler call %d ran in span %v, want %v", i, sc, span)
				}
			}
		})
	}
}

// TestPublishTracingWithoutSDK: with no SDK installed behind the global
// provider, or a no-op provider, neither form starts a span on Publish nor
// allocates.
func TestPublishTracingWithoutSDK(t *testing.T) {
	for name, opts := range map[string][]otelmediator.Option{
		"global": nil,
		"noop":   {otelmediator.WithTracerProvider(noop.NewTracerProvider())},
	} {
		for form, opt := range map[string]mediator.Option{
			"WithTracing":             otelmediator.WithTracing(opts...),
			"WithNotificationTracing": otelmediator.WithNotificationTracing[opened](opts...),
		} {
			var inside []trace.SpanContext
			m := build(t, append(publishHandlers(&inside), opt)...)
			ctx := context.Background()
			if err := mediator.Publish(ctx, m, opened{}); err != nil {
				t.Fatal(err)
			}
			for _, sc := range inside {
				if sc.IsValid() {
					t.Errorf("%s, %s: a handler saw span %v", name, form, sc)
				}
			}
			inside = inside[:0:0]
			handlersOnly := build(t, publishHandlers(new([]trace.SpanContext))...)
			base := testing.AllocsPerRun(100, func() { _ = mediator.Publish(ctx, handlersOnly, opened{}) })
			allocs := testing.AllocsPerRun(100, func() { inside = inside[:0]; _ = mediator.Publish(ctx, m, opened{}) })
			if allocs > base {
				t.Errorf("%s, %s: %v allocations per Publish, %v without tracing", name, form, allocs, base)
			}
		}
	}
}
