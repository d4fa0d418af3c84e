package otelmediator_test

import (
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator/lockproducer"
)

// The lock observers of this module keep no key (locking.KeyRetainer), so
// they add no allocation to a locked memory Send: the one of the scope.
func TestLockObserversAddNoAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	mp, _ := meterProvider(t)
	cases := []struct {
		name string
		opts []mediator.Option
	}{
		{"none", nil},
		{"lockproducer", []mediator.Option{locking.WithObserver(lockproducer.New())}},
		{"WithLockMetrics", []mediator.Option{otelmediator.WithLockMetrics(otelmediator.WithMeterProvider(mp))}},
		{"WithLockEvents, no span", []mediator.Option{otelmediator.WithLockEvents()}},
		{"WithTracing, no SDK", []mediator.Option{otelmediator.WithTracing()}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			loop := lockedLoop(t, c.opts...)
			loop(64) // the observers' first events set their aggregates up
			if got := testing.AllocsPerRun(200, func() { loop(1) }); got != 1 {
				t.Fatalf("allocs per locked Send = %v, want 1", got)
			}
		})
	}
}
