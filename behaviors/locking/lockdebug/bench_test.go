package lockdebug_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/lockdebug"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

var benchIDs = func() (ids [64]string) {
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}()

func benchSend(b *testing.B, opts ...mediator.Option) {
	opts = append(opts,
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[withdraw, int](),
		mediator.WithHandler[withdraw, int](func(context.Context, withdraw) (int, error) { return 1, nil }))
	m, err := mediator.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := mediator.Send(ctx, m, withdraw{ID: benchIDs[i&63]}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendLockedObserved is the baseline of the next one: a locked
// memory Send with an observer that does nothing (events are built, no wait
// is reported).
func BenchmarkSendLockedObserved(b *testing.B) {
	benchSend(b, locking.WithObserver(locking.ObserverFunc(func(locking.LockEvent) {})))
}

// BenchmarkSendLockedWithTable is a locked memory Send while a lockdebug
// table observes it: its holds and its waits (a WaitObserver).
func BenchmarkSendLockedWithTable(b *testing.B) {
	benchSend(b, lockdebug.New().Option())
}
