package locking_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

type traceIDKey struct{}

// ctxRecorder is a ContextObserver that notes, per outcome, the value the
// request's context carried under traceIDKey.
type ctxRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *ctxRecorder) ObserveLock(e locking.LockEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, e.Outcome.String()+" without context")
}

func (r *ctxRecorder) ObserveLockContext(ctx context.Context, e locking.LockEvent) {
	id, _ := ctx.Value(traceIDKey{}).(string)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, e.Outcome.String()+" "+id)
}

// TestContextObserverGetsTheRequestContext: an observer that implements
// ContextObserver is given the request's context for every outcome, a loss
// on the watcher goroutine included, alone or beside a plain observer.
func TestContextObserverGetsTheRequestContext(t *testing.T) {
	for _, n := range []int{1, 2} {
		fake, rec, plain := newFake(), &ctxRecorder{}, &recorder{}
		opts := []mediator.Option{fake.option(), locking.WithObserver(rec)}
		if n == 2 {
			opts = append(opts, locking.WithObserver(plain))
		}
		entered := make(chan struct{}, 1)
		opts = append(opts,
			locking.WithDistributedLocking[AccountCommand, int](),
			mediator.WithHandler[AccountCommand, int](func(ctx context.Context, c AccountCommand) (int, error) {
				if c.ID == "lose" {
					entered <- struct{}{}
					<-ctx.Done()
				}
				return 1, nil
			}))
		m := build(t, opts...)
		ctx := context.WithValue(context.Background(), traceIDKey{}, "t1")
		if _, err := mediator.Send(ctx, m, AccountCommand{ID: "a"}); err != nil {
			t.Fatal(err)
		}
		fake.held["account:b"] = true
		if _, err := mediator.Send(ctx, m, AccountCommand{ID: "b"}); !errors.Is(err, locking.ErrNotAcquired) {
			t.Fatal(err)
		}
		fake.losable = true
		done := make(chan error, 1)
		go func() { _, err := mediator.Send(ctx, m, AccountCommand{ID: "lose"}); done <- err }()
		<-entered
		fake.lastHandle().markLost()
		if err := <-done; !errors.Is(err, locking.ErrLockLost) {
			t.Fatal(err)
		}
		want := []string{"acquired t1", "released t1", "contended t1", "acquired t1", "lost t1", "released t1"}
		rec.mu.Lock()
		got := rec.seen
		rec.mu.Unlock()
		if len(got) != len(want) {
			t.Fatalf("%d observers: got %q, want %q", n, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%d observers: got %q, want %q", n, got, want)
			}
		}
		if n == 2 && len(plain.events) != len(want) {
			t.Fatalf("the plain observer beside it saw %d events, want %d", len(plain.events), len(want))
		}
	}
}
