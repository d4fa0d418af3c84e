package locking_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

type benchWithdraw struct {
	mediator.Command[benchBalance]
	locking.DistributedLock `lock:"timeout=10s"`
	AccountID               string
	Amount                  int64
}

func (c benchWithdraw) LockKey() string { return c.AccountID }

type benchBalance struct{ Cents int64 }

// benchAccounts is what the handler changes; the lock (or the mutex) guards it.
type benchAccounts struct{ balance [64]int64 }

// Handle is kept out of line so that every benchmark calls the same
// function; see mediator's bench_test.go.
//
//go:noinline
func (a *benchAccounts) Handle(_ context.Context, c benchWithdraw) (benchBalance, error) {
	i := int(c.Amount) & 63
	a.balance[i] -= c.Amount
	return benchBalance{Cents: a.balance[i]}, nil
}

var (
	benchIDs = func() (ids [64]string) {
		for i := range ids {
			ids[i] = "acc-" + strconv.Itoa(i)
		}
		return ids
	}()
	benchSink benchBalance
)

func benchSendLoop(b *testing.B, m *mediator.Mediator) {
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := mediator.Send(ctx, m, benchWithdraw{AccountID: benchIDs[i&63], Amount: int64(i & 63)})
		if err != nil {
			b.Fatal(err)
		}
		benchSink = r
	}
}

// BenchmarkSendNoLock is the baseline: the same handler, no behavior.
func BenchmarkSendNoLock(b *testing.B) {
	m := build(b, locking.WithoutLocking(), mediator.WithHandler[benchWithdraw, benchBalance](&benchAccounts{}))
	benchSendLoop(b, m)
}

// BenchmarkSendMutex guards the handler with a plain sync.Mutex: what an
// application without the behavior would write for one process.
func BenchmarkSendMutex(b *testing.B) {
	a := &benchAccounts{}
	var mu sync.Mutex
	m := build(b, locking.WithoutLocking(), mediator.WithHandler[benchWithdraw, benchBalance](func(ctx context.Context, c benchWithdraw) (benchBalance, error) {
		mu.Lock()
		defer mu.Unlock()
		return a.Handle(ctx, c)
	}))
	benchSendLoop(b, m)
}

// BenchmarkSendLockedMemory is an uncontended Send through the locking
// behavior and the memory provider, one key per account via LockKey.
func BenchmarkSendLockedMemory(b *testing.B) {
	m := build(b,
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[benchWithdraw, benchBalance](),
		mediator.WithHandler[benchWithdraw, benchBalance](&benchAccounts{}))
	benchSendLoop(b, m)
}

// BenchmarkSendLockedMemoryObserved adds an observer and a logger whose
// level hides the records, to show what visibility costs when it is on.
func BenchmarkSendLockedMemoryObserved(b *testing.B) {
	m := build(b,
		memory.WithInMemoryDistributedLocking(),
		locking.WithObserver(locking.ObserverFunc(func(locking.LockEvent) {})),
		locking.WithLogger(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		locking.WithDistributedLocking[benchWithdraw, benchBalance](),
		mediator.WithHandler[benchWithdraw, benchBalance](&benchAccounts{}))
	benchSendLoop(b, m)
}

// BenchmarkSendLockedNoOp is the behavior's own cost: the no-op provider
// does almost nothing.
func BenchmarkSendLockedNoOp(b *testing.B) {
	m := build(b,
		locking.WithNoOpLocking(),
		locking.WithDistributedLocking[benchWithdraw, benchBalance](),
		mediator.WithHandler[benchWithdraw, benchBalance](&benchAccounts{}))
	benchSendLoop(b, m)
}

// BenchmarkSendGlobalLockedMemory locks through WithGlobalDistributedLocking,
// which sees messages as any.
func BenchmarkSendGlobalLockedMemory(b *testing.B) {
	m := build(b,
		memory.WithInMemoryDistributedLocking(),
		locking.WithGlobalDistributedLocking(),
		mediator.WithHandler[benchWithdraw, benchBalance](&benchAccounts{}))
	benchSendLoop(b, m)
}

// BenchmarkSendLockedMemoryTransfer is an uncontended Send of a message with
// two keys (LockKeys), through the memory provider: the multi-key path.
func BenchmarkSendLockedMemoryTransfer(b *testing.B) {
	m := build(b,
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[TransferCommand, mediator.Unit](),
		mediator.WithHandler[TransferCommand, mediator.Unit](func(context.Context, TransferCommand) (mediator.Unit, error) {
			return mediator.Unit{}, nil
		}))
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := mediator.Send(ctx, m, TransferCommand{From: benchIDs[i&63], To: benchIDs[(i+1)&63], Amount: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
