package mediator_test

import (
	"context"
	"iter"
	"testing"

	"github.com/turbomediator/turbomediator-go/mediator"
)

type benchStream struct {
	mediator.StreamRequest[int]
	N int
}

// benchStreamHandler yields 0..N-1 from a closure it keeps, so the handler
// itself allocates nothing per stream either: what the benchmarks measure is
// the mediator around it.
type benchStreamHandler struct {
	seq func(n int) iter.Seq2[int, error]
}

var countSeqs = map[int]iter.Seq2[int, error]{}

func newBenchStreamHandler() benchStreamHandler {
	for _, n := range []int{10} {
		countSeqs[n] = func(yield func(int, error) bool) {
			for i := range n {
				if !yield(i, nil) {
					return
				}
			}
		}
	}
	return benchStreamHandler{seq: func(n int) iter.Seq2[int, error] { return countSeqs[n] }}
}

//go:noinline
func (h benchStreamHandler) Handle(_ context.Context, q benchStream) iter.Seq2[int, error] {
	return h.seq(q.N)
}

var streamSink int

func passThroughStream() mediator.StreamBehaviorFunc[benchStream, int] {
	return func(ctx context.Context, q benchStream, next mediator.StreamNext[benchStream, int]) iter.Seq2[int, error] {
		return next(ctx, q)
	}
}

var directStreamHandler mediator.StreamHandler[benchStream, int] = newBenchStreamHandler()

// BenchmarkStreamDirect is the baseline: the handler called through its
// interface and its 10 items ranged over.
func BenchmarkStreamDirect(b *testing.B) {
	h := directStreamHandler
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for v, err := range h.Handle(ctx, benchStream{N: 10}) {
			if err != nil {
				b.Fatal(err)
			}
			streamSink += v
		}
	}
}

func benchStreamThrough(b *testing.B, behaviors int) {
	opts := []mediator.Option{mediator.WithStreamHandler[benchStream, int](newBenchStreamHandler())}
	for range behaviors {
		opts = append(opts, mediator.WithStreamBehavior[benchStream, int](passThroughStream()))
	}
	m, err := mediator.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for v, err := range mediator.Stream(ctx, m, benchStream{N: 10}) {
			if err != nil {
				b.Fatal(err)
			}
			streamSink += v
		}
	}
}

// BenchmarkStream measures Stream of 10 items with no behaviors.
func BenchmarkStream(b *testing.B) { benchStreamThrough(b, 0) }

// BenchmarkStream3Behaviors measures Stream of 10 items through three
// pass-through stream behaviors.
func BenchmarkStream3Behaviors(b *testing.B) { benchStreamThrough(b, 3) }

// TestStreamThroughBehaviorsAllocatesNothing pins what the benchmarks
// measure: ranging over a stream through pass-through behaviors allocates
// exactly what ranging over the handler's own sequence does (the loop body
// handed to an iterator the compiler cannot see escapes, in both).
func TestStreamThroughBehaviorsAllocatesNothing(t *testing.T) {
	m := mustNew(t,
		mediator.WithStreamHandler[benchStream, int](newBenchStreamHandler()),
		mediator.WithStreamBehavior[benchStream, int](passThroughStream()),
		mediator.WithStreamBehavior[benchStream, int](passThroughStream()),
	)
	ctx := context.Background()
	h := directStreamHandler
	direct := testing.AllocsPerRun(1000, func() {
		for v, err := range h.Handle(ctx, benchStream{N: 10}) {
			if err != nil {
				t.Fatal(err)
			}
			streamSink += v
		}
	})
	through := testing.AllocsPerRun(1000, func() {
		for v, err := range mediator.Stream(ctx, m, benchStream{N: 10}) {
			if err != nil {
				t.Fatal(err)
			}
			streamSink += v
		}
	})
	if through != direct {
		t.Errorf("Stream through pass-through behaviors: %v allocs; the handler ranged directly: %v; want the same", through, direct)
	}
}
