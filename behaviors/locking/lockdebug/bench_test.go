package lockdebug_test

import (
	"context"
	"sort"
	"strconv"
	"testing"
	"time"

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

// lockedSends builds a mediator with opts, locked on the memory provider,
// and returns a function that sends n withdrawals over 64 keys in turn.
func lockedSends(b *testing.B, opts ...mediator.Option) func(n int) {
	opts = append(opts,
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[withdraw, int](),
		mediator.WithHandler[withdraw, int](func(context.Context, withdraw) (int, error) { return 1, nil }))
	m, err := mediator.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close(context.Background()) })
	ctx := context.Background()
	return func(n int) {
		for i := range n {
			if _, err := mediator.Send(ctx, m, withdraw{ID: benchIDs[i&63]}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func noopObserver() mediator.Option {
	return locking.WithObserver(locking.ObserverFunc(func(locking.LockEvent) {}))
}

// BenchmarkSendLockedObserved is a locked memory Send with an observer that
// does nothing: events are built, no wait is reported.
func BenchmarkSendLockedObserved(b *testing.B) {
	send := lockedSends(b, noopObserver())
	b.ReportAllocs()
	for b.Loop() {
		send(1)
	}
}

// BenchmarkSendLockedWithTable is a locked memory Send while a lockdebug
// table observes it: its holds and its waits (a WaitObserver).
func BenchmarkSendLockedWithTable(b *testing.B) {
	send := lockedSends(b, lockdebug.New().Option())
	b.ReportAllocs()
	for b.Loop() {
		send(1)
	}
}

// interleave runs base and other in alternating rounds of n Sends, so that
// a busy machine slows both alike, and reports each one's ns/op and the
// median of the per-round ratios other/base.
func interleave(b *testing.B, base, other func(n int)) {
	const n = 2000
	var baseNs, otherNs time.Duration
	var ratios []float64
	rounds := 0
	for b.Loop() {
		t0 := time.Now()
		base(n)
		t1 := time.Now()
		other(n)
		t2 := time.Now()
		baseNs += t1.Sub(t0)
		otherNs += t2.Sub(t1)
		ratios = append(ratios, float64(t2.Sub(t1))/float64(t1.Sub(t0)))
		rounds++
	}
	sort.Float64s(ratios)
	ops := float64(rounds * n)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(baseNs)/ops, "base-ns/op")
	b.ReportMetric(float64(otherNs)/ops, "with-ns/op")
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
}

// BenchmarkInterleavedTableVsObserver: what the table costs beyond any
// observer (a do-nothing one in the baseline).
func BenchmarkInterleavedTableVsObserver(b *testing.B) {
	interleave(b, lockedSends(b, noopObserver()), lockedSends(b, lockdebug.New().Option()))
}

// BenchmarkInterleavedTableVsNone: a locked Send with the table against
// one with no observer at all.
func BenchmarkInterleavedTableVsNone(b *testing.B) {
	interleave(b, lockedSends(b), lockedSends(b, lockdebug.New().Option()))
}
