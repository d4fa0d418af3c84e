package mediator_test

import (
	"context"
	"testing"

	"github.com/turbomediator/turbomediator-go/mediator"
)

type benchEvent struct {
	mediator.Notification
	ID  string
	Sum int
}

type benchEventHandler struct{}

var eventSink int

// Handle is kept out of line, like benchHandler.Handle, so the baseline and
// the mediator call the very same function.
//
//go:noinline
func (benchEventHandler) Handle(_ context.Context, e benchEvent) error {
	eventSink += e.Sum
	return nil
}

var directEventHandlers = []mediator.NotificationHandler[benchEvent]{benchEventHandler{}, benchEventHandler{}}

func passThroughEvent() mediator.NotificationBehaviorFunc[benchEvent] {
	return func(ctx context.Context, e benchEvent, next mediator.NotificationNext[benchEvent]) error {
		return next(ctx, e)
	}
}

// BenchmarkPublishDirect is the baseline: the two handlers called in a loop
// through their interface, as an application without a mediator would.
func BenchmarkPublishDirect(b *testing.B) {
	hs := directEventHandlers
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for _, h := range hs {
			if err := h.Handle(ctx, benchEvent{ID: "a", Sum: i}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchPublish(b *testing.B, perPublish, perHandler int) {
	opts := []mediator.Option{
		mediator.WithNotificationHandler[benchEvent](benchEventHandler{}),
		mediator.WithNotificationHandler[benchEvent](benchEventHandler{}),
	}
	for range perPublish {
		opts = append(opts, mediator.WithNotificationBehavior[benchEvent](passThroughEvent()))
	}
	for range perHandler {
		opts = append(opts, mediator.WithNotificationHandlerBehavior[benchEvent](passThroughEvent()))
	}
	m, err := mediator.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := mediator.Publish(ctx, m, benchEvent{ID: "a", Sum: i}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublish measures Publish to two handlers with no behaviors.
func BenchmarkPublish(b *testing.B) { benchPublish(b, 0, 0) }

// BenchmarkPublish3Behaviors measures Publish through three pass-through
// whole-Publish behaviors.
func BenchmarkPublish3Behaviors(b *testing.B) { benchPublish(b, 3, 0) }

// BenchmarkPublish3HandlerBehaviors measures Publish through three
// pass-through behaviors around each of the two handlers.
func BenchmarkPublish3HandlerBehaviors(b *testing.B) { benchPublish(b, 0, 3) }

// TestPublishThroughBehaviorsAllocatesNothing pins the claim the benchmarks
// measure: pass-through notification behaviors add no allocation to Publish.
func TestPublishThroughBehaviorsAllocatesNothing(t *testing.T) {
	m := mustNew(t,
		mediator.WithNotificationHandler[benchEvent](benchEventHandler{}),
		mediator.WithNotificationHandler[benchEvent](benchEventHandler{}),
		mediator.WithNotificationBehavior[benchEvent](passThroughEvent()),
		mediator.WithNotificationBehavior[benchEvent](passThroughEvent()),
		mediator.WithNotificationHandlerBehavior[benchEvent](passThroughEvent()),
	)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := mediator.Publish(ctx, m, benchEvent{ID: "a", Sum: 1}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Publish through notification behaviors: %v allocs; want 0", allocs)
	}
}
