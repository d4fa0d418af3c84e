package locking_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// The scope keeps what most Sends never use (the grant time kept for
// observers, the handles of several keys, the lost-lock watch) in a part of
// its own. A Send that needs that part gets it in an allocation it makes
// anyway: with observers, in the scope's; with several keys, in their
// handles'. So neither Send allocates more often than when the part was in
// the scope itself (2 and 8 then).
func TestScopeExtraPartCostsNoAllocationOfItsOwn(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	observed := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithObserver(locking.ObserverFunc(func(locking.LockEvent) {})),
		locking.WithLogger(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }))
	transfers := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[TransferCommand, mediator.Unit](),
		mediator.WithHandler[TransferCommand, mediator.Unit](unitHandler[TransferCommand]))
	ctx := context.Background()
	cases := []struct {
		name string
		send func()
		want float64
	}{
		// the scope with its extra part, and the key's own string (events
		// may keep it)
		{"observed", func() { _, _ = mediator.Send(ctx, observed, AccountCommand{ID: "42"}) }, 2},
		// as many as when the handles' slots were an allocation of their
		// own and the rest of the extra part lived in the scope
		{"two keys", func() { _, _ = mediator.Send(ctx, transfers, TransferCommand{From: "a", To: "b", Amount: 1}) }, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(200, c.send); got > c.want {
				t.Fatalf("allocs per Send = %v, want at most %v", got, c.want)
			}
		})
	}
}
