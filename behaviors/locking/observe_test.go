package locking_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// recorder keeps every event, safe for the watcher goroutine.
type recorder struct {
	mu     sync.Mutex
	events []locking.LockEvent
}

func (r *recorder) ObserveLock(e locking.LockEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) outcomes() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, e := range r.events {
		s = append(s, e.Outcome.String()+" "+e.Key)
	}
	return strings.Join(s, ", ")
}

func TestObserverSeesEachOutcome(t *testing.T) {
	fake, rec := newFake(), &recorder{}
	entered := make(chan struct{}, 1)
	m := build(t, fake.option(),
		locking.WithObserver(rec),
		locking.WithDistributedLocking[AccountCommand, int](func(o *locking.Options) { o.GlobalKeyPrefix = "app" }),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, c AccountCommand) (int, error) {
			if c.ID == "lose" {
				entered <- struct{}{}
				<-ctx.Done()
			}
			return 1, nil
		}))
	ctx := context.Background()
	send := func(id string) error { _, err := mediator.Send(ctx, m, AccountCommand{ID: id}); return err }

	if err := send("a"); err != nil {
		t.Fatal(err)
	}
	fake.held["app:account:b"] = true
	if err := send("b"); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := mediator.Send(cancelled, m, AccountCommand{ID: "c"}); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	fake.fail = errBoom
	if err := send("d"); !errors.Is(err, locking.ErrUnavailable) {
		t.Fatal(err)
	}
	fake.fail, fake.losable = nil, true
	done := make(chan error, 1)
	go func() { done <- send("lose") }()
	<-entered
	fake.lastHandle().markLost()
	if err := <-done; !errors.Is(err, locking.ErrLockLost) {
		t.Fatal(err)
	}

	want := "acquired app:account:a, released app:account:a, contended app:account:b, cancelled app:account:c, " +
		"unavailable app:account:d, acquired app:account:lose, lost app:account:lose, released app:account:lose"
	if got := rec.outcomes(); got != want {
		t.Fatalf("outcomes:\n got %s\nwant %s", got, want)
	}
	for _, e := range rec.events {
		if e.Prefix != "app:account" {
			t.Fatalf("event %+v has prefix %q, want app:account", e, e.Prefix)
		}
		if (e.Outcome == locking.Acquired || e.Outcome == locking.Released) && e.Token == 0 {
			t.Fatalf("event %+v has no token", e)
		}
		if e.Outcome == locking.Unavailable && !errors.Is(e.Err, errBoom) {
			t.Fatalf("unavailable event without its cause: %+v", e)
		}
	}
}

func TestLogRecordsLevelsAndFields(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "wait", "hold":
				return slog.Attr{} // vary from run to run
			}
			return a
		},
	}))
	fake := newFake()
	m := build(t, fake.option(),
		locking.WithLogger(logger),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 1, nil }))
	ctx := context.Background()
	if _, err := mediator.Send(ctx, m, AccountCommand{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	fake.held["account:2"] = true
	_, _ = mediator.Send(ctx, m, AccountCommand{ID: "2"})
	fake.fail = errBoom
	_, _ = mediator.Send(ctx, m, AccountCommand{ID: "3"})

	want := `level=DEBUG msg="lock acquired" key=account:1 token=1
level=DEBUG msg="lock released" key=account:1 token=1
level=WARN msg="lock not acquired" key=account:2
level=ERROR msg="lock provider unavailable" key=account:3 error="locking: provider unavailable for \"account:3\": boom"
`
	if got := buf.String(); got != want {
		t.Fatalf("log:\n%s\nwant:\n%s", got, want)
	}
}

func TestLoggerFromTheContainerIsUsed(t *testing.T) {
	var buf bytes.Buffer
	m := build(t, locking.WithNoOpLocking(),
		mediator.Provide(func() *slog.Logger {
			return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 1, nil }))
	if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `msg="lock acquired" key=account:1`) {
		t.Fatalf("log = %q, want an acquired record", buf.String())
	}
}

func TestEveryObserverSeesEveryEvent(t *testing.T) {
	a, b := &recorder{}, &recorder{}
	m := build(t, locking.WithNoOpLocking(), locking.WithObserver(a), locking.WithObserver(b),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }))
	if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	want := "acquired account:1, released account:1"
	if a.outcomes() != want || b.outcomes() != want {
		t.Fatalf("observers saw %q and %q, want %q each", a.outcomes(), b.outcomes(), want)
	}
}
