package locking_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
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

// With the in-memory provider the handle and the key live in the lock scope:
// a locked Send allocates that one object, whatever the key source, as long
// as the key fits in it; a longer key costs its own string. A Send without
// the behavior allocates nothing.
func TestMemoryLockedSendAllocatesOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	m := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[AccountCommand, int](),
		locking.WithDistributedLocking[RunDailyReportCommand, []string](),
		locking.WithDistributedLocking[PlainFieldsCommand, mediator.Unit](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }),
		mediator.WithHandler[RunDailyReportCommand, []string](func(context.Context, RunDailyReportCommand) ([]string, error) { return nil, nil }),
		mediator.WithHandler[PlainFieldsCommand, mediator.Unit](unitHandler[PlainFieldsCommand]),
		mediator.WithHandler[UntaggedCommand, []string](func(context.Context, UntaggedCommand) ([]string, error) { return nil, nil }),
	)
	ctx := context.Background()
	long := strings.Repeat("x", 100)
	cases := []struct {
		name string
		send func()
		want float64
	}{
		{"LockKey", func() { _, _ = mediator.Send(ctx, m, AccountCommand{ID: "42"}) }, 1},
		{"type-wide", func() { _, _ = mediator.Send(ctx, m, RunDailyReportCommand{}) }, 1},
		{"plain key fields", func() { _, _ = mediator.Send(ctx, m, PlainFieldsCommand{Tenant: "t", Seq: 7}) }, 1},
		{"LockKey longer than the scope's buffer", func() { _, _ = mediator.Send(ctx, m, AccountCommand{ID: long}) }, 2},
		{"no lock", func() { _, _ = mediator.Send(ctx, m, UntaggedCommand{ID: "42"}) }, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(200, c.send); got != c.want {
				t.Fatalf("allocs per Send = %v, want %v", got, c.want)
			}
		})
	}
}

// A key built inside a Send's scope belongs to that Send: handles kept after
// their Sends returned still report their own keys, short or long, however
// many Sends came after.
func TestMemoryKeysBuiltInTheScopeStayExact(t *testing.T) {
	p := memory.New()
	var kept []locking.Handle
	m := build(t, withMemory(p),
		locking.WithDistributedLocking[AccountCommand, int](),
		locking.WithDistributedLocking[PlainFieldsCommand, mediator.Unit](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, _ AccountCommand) (int, error) {
			h, _ := locking.FromContext(ctx)
			kept = append(kept, h)
			return 0, nil
		}),
		mediator.WithHandler[PlainFieldsCommand, mediator.Unit](func(ctx context.Context, _ PlainFieldsCommand) (mediator.Unit, error) {
			h, _ := locking.FromContext(ctx)
			kept = append(kept, h)
			return mediator.Unit{}, nil
		}),
	)
	ctx := context.Background()
	var want []string
	for i := range 200 {
		id := strconv.Itoa(i)
		if i%3 == 0 {
			id = strings.Repeat(id, 30) // longer than the scope's buffer
		}
		if i%2 == 0 {
			if _, err := mediator.Send(ctx, m, AccountCommand{ID: id}); err != nil {
				t.Fatal(err)
			}
			want = append(want, "account:"+id)
		} else {
			if _, err := mediator.Send(ctx, m, PlainFieldsCommand{Tenant: id, Seq: int64(i)}); err != nil {
				t.Fatal(err)
			}
			want = append(want, "PlainFieldsCommand:"+id+":"+strconv.Itoa(i))
		}
	}
	runtime.GC()
	for i, h := range kept {
		if h.Key() != want[i] {
			t.Fatalf("handle %d: Key() = %q, want %q", i, h.Key(), want[i])
		}
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len = %d after every Send returned, want 0", n)
	}
}

// A handle kept from an earlier Send lives in that Send's scope; releasing it
// again, while a later Send holds the same key, must not free the later
// holder's lock.
func TestMemoryStaleHandleCannotFreeALaterHolder(t *testing.T) {
	p := memory.New()
	var first locking.Handle
	var stillHeld bool
	m := build(t, withMemory(p),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, _ AccountCommand) (int, error) {
			h, _ := locking.FromContext(ctx)
			if first == nil {
				first = h
				return 0, nil
			}
			if err := first.Release(context.Background()); err != nil {
				return 0, err
			}
			_, err := p.TryAcquire(context.Background(), h.Key(), 0)
			stillHeld = errors.Is(err, locking.ErrNotAcquired)
			return 0, nil
		}),
	)
	for range 2 {
		if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: "42"}); err != nil {
			t.Fatal(err)
		}
	}
	if !stillHeld {
		t.Fatal("releasing the first Send's handle freed the second Send's lock")
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len = %d after both Sends, want 0", n)
	}
}
