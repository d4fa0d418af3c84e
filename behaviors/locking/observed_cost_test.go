package locking_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// keyless is an observer that keeps copies of the events' keys and says so
// (locking.KeyRetainer): it keeps no key it was given.
type keyless struct{ recorder }

func (o *keyless) ObserveLock(e locking.LockEvent) {
	e.Key = strings.Clone(e.Key)
	o.recorder.ObserveLock(e)
}

func (*keyless) RetainsKeys() bool { return false }

// eventCounter counts events, keeping nothing, and answers RetainsKeys with
// retains.
type eventCounter struct {
	n       atomic.Int64
	retains bool
}

func (c *eventCounter) ObserveLock(locking.LockEvent) { c.n.Add(1) }
func (c *eventCounter) RetainsKeys() bool             { return c.retains }

// An observer that keeps no key costs the locked memory Send no allocation:
// the key stays in the Send's scope. One that may keep keys (saying so, or
// not saying) gets a copy of each, one more allocation. A logger copies the
// key only for a record its level lets through.
func TestObservedMemorySendAllocatesOnlyWhatObserversKeep(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	hidden := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	cases := []struct {
		name string
		opts []mediator.Option
		want float64
	}{
		{"no observer", nil, 1},
		{"observer keeping no key", []mediator.Option{locking.WithObserver(&eventCounter{})}, 1},
		{"two observers keeping no key", []mediator.Option{locking.WithObserver(&eventCounter{}), locking.WithObserver(&eventCounter{})}, 1},
		{"logger whose level hides the records", []mediator.Option{locking.WithLogger(hidden)}, 1},
		{"observer keeping no key and hidden logger", []mediator.Option{locking.WithObserver(&eventCounter{}), locking.WithLogger(hidden)}, 1},
		{"observer keeping keys", []mediator.Option{locking.WithObserver(&eventCounter{retains: true})}, 2},
		{"observer that does not say", []mediator.Option{locking.WithObserver(locking.ObserverFunc(func(locking.LockEvent) {}))}, 2},
		{"one of two keeping keys", []mediator.Option{locking.WithObserver(&eventCounter{}), locking.WithObserver(&eventCounter{retains: true})}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := build(t, append(c.opts, memory.WithInMemoryDistributedLocking(),
				locking.WithDistributedLocking[AccountCommand, int](),
				mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }))...)
			ctx := context.Background()
			send := func() {
				if _, err := mediator.Send(ctx, m, AccountCommand{ID: "42"}); err != nil {
					t.Fatal(err)
				}
			}
			send() // the observers' first event may set things up
			if got := testing.AllocsPerRun(200, send); got != c.want {
				t.Fatalf("allocs per Send = %v, want %v", got, c.want)
			}
		})
	}
}

// Observers that keep no key still read the right one, in every event.
func TestKeylessObserverSeesTheKeys(t *testing.T) {
	obs := &keyless{}
	m := build(t, memory.WithInMemoryDistributedLocking(), locking.WithObserver(obs),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }))
	for _, id := range []string{"1", "22", "333"} {
		if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	want := "acquired account:1, released account:1, acquired account:22, released account:22, acquired account:333, released account:333"
	if got := obs.outcomes(); got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// A grant the in-memory provider makes at once waited for nobody: Wait is
// exactly 0 (no clock read is spent on it), and its hold runs from the
// request, so it covers the handler. A grant made after a wait in the key's
// queue reports that wait.
func TestGrantMadeAtOnceReportsNoWait(t *testing.T) {
	p := memory.New()
	obs := &keyless{}
	const heldFor = 20 * time.Millisecond
	var calls atomic.Int32
	queued := make(chan struct{})
	m := build(t, locking.WithDistributedLockProvider[*memory.Provider](func() *memory.Provider { return p }),
		locking.WithObserver(obs),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) {
			if calls.Add(1) == 1 {
				<-queued
				time.Sleep(heldFor) // what is measured: the first holds this long while the second waits
			}
			return 0, nil
		}))
	info := func() locking.LockInfo {
		info, err := p.Inspect(context.Background(), "account:42")
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	done := make(chan error, 2)
	send := func() {
		_, err := mediator.Send(context.Background(), m, AccountCommand{ID: "42"})
		done <- err
	}
	go send()
	waitFor(t, "the first Send to hold the key", func() bool { return info().Held })
	go send()
	waitFor(t, "the second Send to queue", func() bool { return info().Waiters == 1 })
	close(queued)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	// The first grant has the smaller token.
	byToken := map[uint64]map[locking.Outcome]locking.LockEvent{}
	var tokens []uint64
	for _, e := range obs.events {
		if byToken[e.Token] == nil {
			byToken[e.Token] = map[locking.Outcome]locking.LockEvent{}
			tokens = append(tokens, e.Token)
		}
		byToken[e.Token][e.Outcome] = e
	}
	if len(obs.events) != 4 || len(tokens) != 2 {
		t.Fatalf("events %+v, want acquired and released of two grants", obs.events)
	}
	slices.Sort(tokens)
	first, second := byToken[tokens[0]], byToken[tokens[1]]
	if e := first[locking.Acquired]; e.Wait != 0 {
		t.Errorf("grant made at once: wait %v, want 0", e.Wait)
	}
	if e := first[locking.Released]; e.Hold < heldFor {
		t.Errorf("its hold %v, want ≥ %v (from the request to the release)", e.Hold, heldFor)
	}
	if e := second[locking.Acquired]; e.Wait < heldFor {
		t.Errorf("grant after a wait: wait %v, want ≥ %v", e.Wait, heldFor)
	}
	if e := second[locking.Released]; e.Hold <= 0 {
		t.Errorf("its hold %v, want > 0", e.Hold)
	}
}
