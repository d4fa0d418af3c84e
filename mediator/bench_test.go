package mediator_test

import (
	"context"
	"testing"

	"github.com/turbomediator/turbomediator-go/mediator"
)

type benchQuery struct {
	mediator.Query[benchResult]
	A, B int
}

type benchResult struct{ Sum int }

type benchHandler struct{}

func (benchHandler) Handle(_ context.Context, q benchQuery) (benchResult, error) {
	return benchResult{Sum: q.A + q.B}, nil
}

func passThrough() mediator.Behavior[benchQuery, benchResult] {
	return mediator.BehaviorFunc[benchQuery, benchResult](func(ctx context.Context, q benchQuery, next mediator.Next[benchQuery, benchResult]) (benchResult, error) {
		return next(ctx, q)
	})
}

var sink benchResult

// BenchmarkSendDirect is the baseline: the handler called through its
// interface, as an application without a mediator would.
func BenchmarkSendDirect(b *testing.B) {
	var h mediator.Handler[benchQuery, benchResult] = benchHandler{}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := h.Handle(ctx, benchQuery{A: i, B: 1})
		if err != nil {
			b.Fatal(err)
		}
		sink = r
	}
}

func benchSend(b *testing.B, behaviors int) {
	opts := []mediator.Option{mediator.WithHandler[benchQuery, benchResult](benchHandler{})}
	for range behaviors {
		opts = append(opts, mediator.WithBehavior[benchQuery, benchResult](passThrough()))
	}
	m, err := mediator.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := mediator.Send(ctx, m, benchQuery{A: i, B: 1})
		if err != nil {
			b.Fatal(err)
		}
		sink = r
	}
}

// BenchmarkSend measures Send with no behaviors.
func BenchmarkSend(b *testing.B) { benchSend(b, 0) }

// BenchmarkSend3Behaviors measures Send through three pass-through behaviors.
func BenchmarkSend3Behaviors(b *testing.B) { benchSend(b, 3) }
