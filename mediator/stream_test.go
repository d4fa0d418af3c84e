package mediator_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"testing"

	"github.com/turbomediator/turbomediator-go/mediator"
)

type countTo struct {
	mediator.StreamRequest[int]
	N int
}

// counter streams 1..N, records whether it saw the consumer stop, and fails
// at failAt when it is set.
type counter struct {
	r      *recorder
	failAt int
}

func (c counter) Handle(ctx context.Context, q countTo) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		for i := 1; i <= q.N; i++ {
			if i == c.failAt {
				yield(0, errors.New("count failed"))
				return
			}
			if !yield(i, nil) {
				c.r.add("handler saw stop")
				return
			}
		}
		c.r.add("handler done")
	}
}

func collect(t *testing.T, seq iter.Seq2[int, error]) ([]int, error) {
	t.Helper()
	var out []int
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func streamTracing(r *recorder, name string) mediator.StreamBehaviorFunc[countTo, int] {
	return func(ctx context.Context, q countTo, next mediator.StreamNext[countTo, int]) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			r.add(name + ">")
			defer r.add("<" + name)
			for v, err := range next(ctx, q) {
				if !yield(v, err) {
					return
				}
			}
		}
	}
}

func TestStreamThroughBehaviorsInOrder(t *testing.T) {
	r := &recorder{}
	m := mustNew(t,
		mediator.WithStreamBehavior[countTo, int](streamTracing(r, "a")),
		mediator.WithStreamBehavior[countTo, int](streamTracing(r, "b")),
		mediator.WithStreamHandler[countTo, int](counter{r: r}),
	)
	got, err := collect(t, mediator.Stream(context.Background(), m, countTo{N: 3}))
	if err != nil || !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("Stream = %v, %v; want 1 2 3", got, err)
	}
	if want := []string{"a>", "b>", "handler done", "<b", "<a"}; !slices.Equal(r.list(), want) {
		t.Errorf("order %v; want %v", r.list(), want)
	}
}

func TestStreamEarlyBreakStopsHandlerAndUnwindsBehaviors(t *testing.T) {
	r := &recorder{}
	m := mustNew(t,
		mediator.WithStreamBehavior[countTo, int](streamTracing(r, "a")),
		mediator.WithStreamHandler[countTo, int](counter{r: r}),
	)
	for v, err := range mediator.Stream(context.Background(), m, countTo{N: 100}) {
		if err != nil {
			t.Fatal(err)
		}
		if v == 2 {
			break
		}
	}
	if want := []string{"a>", "handler saw stop", "<a"}; !slices.Equal(r.list(), want) {
		t.Errorf("order %v; want %v", r.list(), want)
	}
}

func TestStreamError(t *testing.T) {
	m := mustNew(t, mediator.WithStreamHandler[countTo, int](counter{r: &recorder{}, failAt: 3}))
	got, err := collect(t, mediator.Stream(context.Background(), m, countTo{N: 5}))
	if err == nil || err.Error() != "count failed" || !slices.Equal(got, []int{1, 2}) {
		t.Errorf("Stream = %v, %v; want 1 2 then the error", got, err)
	}
}

func TestStreamWithoutHandlerOrMediator(t *testing.T) {
	m := mustNew(t)
	_, err := collect(t, mediator.Stream(context.Background(), m, countTo{N: 1}))
	if !errors.Is(err, mediator.ErrNoHandler) {
		t.Errorf("Stream without a handler = %v; want ErrNoHandler", err)
	}
	if _, err := collect(t, mediator.Stream(context.Background(), (*mediator.Mediator)(nil), countTo{})); !errors.Is(err, mediator.ErrNilMediator) {
		t.Errorf("Stream on nil = %v; want ErrNilMediator", err)
	}
	closed := mustNew(t, mediator.WithStreamHandler[countTo, int](counter{r: &recorder{}}))
	_ = closed.Close(context.Background())
	if _, err := collect(t, mediator.Stream(context.Background(), closed, countTo{N: 1})); !errors.Is(err, mediator.ErrClosed) {
		t.Errorf("Stream after Close = %v; want ErrClosed", err)
	}
}

func TestStreamBehaviorWithoutHandlerFailsBuild(t *testing.T) {
	be := buildError(t, mediator.WithStreamBehavior[countTo, int](streamTracing(&recorder{}, "a")))
	if !errors.Is(be, mediator.ErrNoHandler) {
		t.Errorf("Build = %v; want ErrNoHandler", be)
	}
	be = buildError(t,
		mediator.WithStreamHandler[countTo, int](counter{}),
		mediator.WithStreamHandler[countTo, int](counter{}))
	if be == nil {
		t.Error("two stream handlers built")
	}
}

func TestStreamFuncHandlerAndConstructor(t *testing.T) {
	m := mustNew(t,
		mediator.Provide(func() *recorder { return &recorder{} }),
		mediator.WithStreamHandler[countTo, int](func(r *recorder) mediator.StreamHandler[countTo, int] { return counter{r: r} }),
		mediator.WithStreamBehavior[countTo, int](func(ctx context.Context, q countTo, next mediator.StreamNext[countTo, int]) iter.Seq2[int, error] {
			q.N++ // a behavior may pass on a changed request
			return next(ctx, q)
		}),
	)
	if got, err := collect(t, mediator.Stream(context.Background(), m, countTo{N: 1})); err != nil || !slices.Equal(got, []int{1, 2}) {
		t.Errorf("Stream = %v, %v; want 1 2", got, err)
	}
}
