package locking_test

import (
	"context"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

type PlainFieldsCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
	Tenant string `lock:"key"`
	Seq    int64  `lock:"key"`
}

// The no-op provider allocates one handle per grant and the behavior one
// scope (which is also the handler's context); everything beyond those two is
// key building.
func TestKeyBuildingAllocatesAtMostTheKey(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	m := build(t, locking.WithNoOpLocking(),
		locking.WithDistributedLocking[AccountCommand, int](),
		locking.WithDistributedLocking[RunDailyReportCommand, []string](),
		locking.WithDistributedLocking[PlainFieldsCommand, mediator.Unit](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }),
		mediator.WithHandler[RunDailyReportCommand, []string](func(context.Context, RunDailyReportCommand) ([]string, error) { return nil, nil }),
		mediator.WithHandler[PlainFieldsCommand, mediator.Unit](unitHandler[PlainFieldsCommand]),
	)
	ctx := context.Background()
	const base = 2 // handle + scope
	cases := []struct {
		name string
		send func()
		want float64
	}{
		{"LockKey: the final string", func() { _, _ = mediator.Send(ctx, m, AccountCommand{ID: "42"}) }, base + 1},
		{"type-wide: nothing", func() { _, _ = mediator.Send(ctx, m, RunDailyReportCommand{}) }, base},
		{"plain key fields: the final string", func() {
			_, _ = mediator.Send(ctx, m, PlainFieldsCommand{Tenant: "t", Seq: 7})
		}, base + 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(200, c.send); got != c.want {
				t.Fatalf("allocs per Send = %v, want %v", got, c.want)
			}
		})
	}
}
