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

// Handle is kept out of line on purpose. Without the directive the compiler
// inlines it into BenchmarkSendDirect and the baseline measures a loop that
// adds two numbers (~0.6 ns): no real handler is that small, and behind the
// mediator the same method can never be inlined, so the comparison would be
// between two different amounts of work. Out of line, all three benchmarks
// call the very same function and differ only by what surrounds the call.
//
//go:noinline
func (benchHandler) Handle(_ context.Context, q benchQuery) (benchResult, error) {
	return benchResult{Sum: q.A + q.B}, nil
}

func passThrough() mediator.Behavior[benchQuery, benchResult] {
	return mediator.BehaviorFunc[benchQuery, benchResult](func(ctx context.Context, q benchQuery, next mediator.Next[benchQuery, benchResult]) (benchResult, error) {
		return next(ctx, q)
	})
}

var sink benchResult

// directHandler is a package-level interface value, so the compiler cannot
// see its concrete type and turn the call into a static one
// (devirtualization): the baseline goes through the interface's method table
// exactly as the mediator's call to the same handler does.
var directHandler mediator.Handler[benchQuery, benchResult] = benchHandler{}

// BenchmarkSendDirect is the baseline: the handler called through its
// interface, as an application without a mediator would.
func BenchmarkSendDirect(b *testing.B) {
	h := directHandler
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

// BenchmarkSendDirectStatic calls the same handler on its concrete type, which
// the compiler turns into a static call (no method table). No mediator can
// match it, since routing by type ends in an interface call; it is here to
// show what the interface call itself costs.
func BenchmarkSendDirectStatic(b *testing.B) {
	var h benchHandler
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

// BenchmarkSendGlobalBehavior measures Send through one pass-through global
// behavior, which sees the request and response as any: boxing them costs
// allocations that per-type behaviors do not pay.
func BenchmarkSendGlobalBehavior(b *testing.B) {
	m, err := mediator.New(
		mediator.WithHandler[benchQuery, benchResult](benchHandler{}),
		mediator.WithGlobalBehavior(func(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
			return next(ctx, req)
		}),
	)
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
