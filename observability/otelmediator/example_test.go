package otelmediator_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

type exampleWithdraw struct {
	mediator.Command[int64]
	locking.DistributedLock `lock:"prefix=account,timeout=5s"`
	AccountID               string
	Amount                  int64
}

func (c exampleWithdraw) LockKey() string { return c.AccountID }

// A span per Send, with the lock's outcomes as its events.
func ExampleWithTracing() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	m, err := mediator.New(
		otelmediator.WithTracing(otelmediator.WithTracerProvider(tp)),
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[exampleWithdraw, int64](),
		mediator.WithHandler[exampleWithdraw, int64](func(_ context.Context, c exampleWithdraw) (int64, error) {
			return 1000 - c.Amount, nil
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = m.Close(context.Background()) }()
	if _, err := mediator.Send(context.Background(), m, exampleWithdraw{AccountID: "42", Amount: 250}); err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range spans.Ended() {
		fmt.Println(s.Name(), s.SpanKind())
		for _, kv := range s.Attributes() {
			fmt.Printf("  %s=%s\n", kv.Key, kv.Value.String())
		}
		for _, e := range s.Events() {
			fmt.Println("  event", e.Name)
		}
	}
	// Output:
	// otelmediator_test.exampleWithdraw internal
	//   turbomediator.message.type=otelmediator_test.exampleWithdraw
	//   turbomediator.operation=send
	//   turbomediator.outcome=ok
	//   event turbomediator.lock.acquired
	//   event turbomediator.lock.released
}
