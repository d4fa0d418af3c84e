package otelmediator_test

import (
	"context"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator/lockproducer"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

var (
	benchKeys = func() (ids [64]string) {
		for i := range ids {
			ids[i] = "acc-" + strconv.Itoa(i)
		}
		return ids
	}()
	benchPong string
	benchInt  int
)

func benchPing(b *testing.B, opts ...mediator.Option) {
	m := build(b, append(opts, mediator.WithHandler[ping, string](handlePing))...)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := mediator.Send(ctx, m, ping{})
		if err != nil {
			b.Fatal(err)
		}
		benchPong = r
	}
}

// BenchmarkSendPlain is the baseline of the tracing benchmarks.
func BenchmarkSendPlain(b *testing.B) { benchPing(b) }

// BenchmarkSendTypeTracingGlobalNoSDK: per-type tracing on the global
// provider with no SDK installed, the default of an app that installs none.
func BenchmarkSendTypeTracingGlobalNoSDK(b *testing.B) {
	benchPing(b, otelmediator.WithTypeTracing[ping, string]())
}

// BenchmarkSendTypeTracingNoop: per-type tracing on a no-op provider.
func BenchmarkSendTypeTracingNoop(b *testing.B) {
	benchPing(b, otelmediator.WithTypeTracing[ping, string](otelmediator.WithTracerProvider(noop.NewTracerProvider())))
}

// BenchmarkSendTracingGlobalNoSDK: the global form, whose boxing the
// mediator documents.
func BenchmarkSendTracingGlobalNoSDK(b *testing.B) { benchPing(b, otelmediator.WithTracing()) }

func benchLocked(b *testing.B, opts ...mediator.Option) {
	m := build(b, append(opts,
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[withdraw, int](),
		mediator.WithHandler[withdraw, int](func(context.Context, withdraw) (int, error) { return 1, nil }))...)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := mediator.Send(ctx, m, withdraw{ID: benchKeys[i&63]})
		if err != nil {
			b.Fatal(err)
		}
		benchInt = r
	}
}

// BenchmarkSendLockedMemory is the baseline of the metrics benchmark.
func BenchmarkSendLockedMemory(b *testing.B) { benchLocked(b) }

// BenchmarkSendLockedMemoryMetrics: the same with the lock metrics recorded
// by the OpenTelemetry SDK (a manual reader, as a pull exporter has).
func BenchmarkSendLockedMemoryMetrics(b *testing.B) {
	mp, _ := meterProvider(b)
	benchLocked(b, otelmediator.WithLockMetrics(otelmediator.WithMeterProvider(mp)))
}

// BenchmarkSendLockedMemoryProducer: the same with the lock metrics
// aggregated by lockproducer.
func BenchmarkSendLockedMemoryProducer(b *testing.B) {
	benchLocked(b, locking.WithObserver(lockproducer.New()))
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3 // CLOCK_THREAD_CPUTIME_ID
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		panic(e)
	}
	return time.Duration(ts.Nano())
}

// interleave runs base and other in alternating rounds of n operations, so
// that a busy machine slows both alike. On a machine shared with other work
// wall time counts the time the thread waited for a core; the CPU time of
// the (locked) thread does not, so both are reported: each one's ns/op, the
// median of the per-round ratios other/base and the median difference, in
// wall time and in CPU time (cpu-).
func interleave(b *testing.B, base, other func(n int)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const n = 2000
	var baseNs, otherNs, baseCPU, otherCPU time.Duration
	var ratios, diffs, cpuRatios, cpuDiffs []float64
	rounds := 0
	b.ReportAllocs()
	for b.Loop() {
		t0, c0 := time.Now(), threadCPU()
		base(n)
		t1, c1 := time.Now(), threadCPU()
		other(n)
		t2, c2 := time.Now(), threadCPU()
		db, do := t1.Sub(t0), t2.Sub(t1)
		cb, co := c1-c0, c2-c1
		baseNs += db
		otherNs += do
		baseCPU += cb
		otherCPU += co
		ratios = append(ratios, float64(do)/float64(db))
		diffs = append(diffs, float64(do-db)/n)
		cpuRatios = append(cpuRatios, float64(co)/float64(cb))
		cpuDiffs = append(cpuDiffs, float64(co-cb)/n)
		rounds++
	}
	median := func(v []float64) float64 { sort.Float64s(v); return v[len(v)/2] }
	ops := float64(rounds * n)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(baseNs)/ops, "base-ns/op")
	b.ReportMetric(float64(otherNs)/ops, "with-ns/op")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(diffs), "extra-ns/op")
	b.ReportMetric(float64(baseCPU)/ops, "cpu-base-ns/op")
	b.ReportMetric(float64(otherCPU)/ops, "cpu-with-ns/op")
	b.ReportMetric(median(cpuRatios), "cpu-ratio")
	b.ReportMetric(median(cpuDiffs), "cpu-extra-ns/op")
}

func pingLoop(b *testing.B, opts ...mediator.Option) func(n int) {
	m := build(b, append(opts, mediator.WithHandler[ping, string](handlePing))...)
	ctx := context.Background()
	return func(n int) {
		for range n {
			r, err := mediator.Send(ctx, m, ping{})
			if err != nil {
				b.Fatal(err)
			}
			benchPong = r
		}
	}
}

func lockedLoop(b testing.TB, opts ...mediator.Option) func(n int) {
	m := build(b, append(opts,
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[withdraw, int](),
		mediator.WithHandler[withdraw, int](func(context.Context, withdraw) (int, error) { return 1, nil }))...)
	ctx := context.Background()
	return func(n int) {
		for i := range n {
			r, err := mediator.Send(ctx, m, withdraw{ID: benchKeys[i&63]})
			if err != nil {
				b.Fatal(err)
			}
			benchInt = r
		}
	}
}

// BenchmarkInterleavedTypeTracingNoSDK: plain Send against Send through
// per-type tracing on the global provider with no SDK, in alternating
// rounds; extra-ns/op is the tracing's cost (budget 30 ns, 0 allocs: see
// BenchmarkSendTypeTracingGlobalNoSDK for the allocations).
func BenchmarkInterleavedTypeTracingNoSDK(b *testing.B) {
	interleave(b, pingLoop(b), pingLoop(b, otelmediator.WithTypeTracing[ping, string]()))
}

// BenchmarkInterleavedTracingNoSDK: the same for the global form.
func BenchmarkInterleavedTracingNoSDK(b *testing.B) {
	interleave(b, pingLoop(b), pingLoop(b, otelmediator.WithTracing()))
}

// BenchmarkInterleavedLockMetrics: locked memory Send without and with the
// lock metrics on the SDK, in alternating rounds (budget: ratio ≤ 1.3).
func BenchmarkInterleavedLockMetrics(b *testing.B) {
	mp, _ := meterProvider(b)
	interleave(b, lockedLoop(b), lockedLoop(b, otelmediator.WithLockMetrics(otelmediator.WithMeterProvider(mp))))
}

// BenchmarkLockMetricsObserve: one acquisition and its release recorded
// through the SDK, without the locking behavior around.
func BenchmarkLockMetricsObserve(b *testing.B) {
	mp, _ := meterProvider(b)
	obs, err := otelmediator.NewLockMetrics(otelmediator.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	acquired := locking.LockEvent{Prefix: "acct", Key: "acct:1", Outcome: locking.Acquired, Wait: time.Millisecond, Token: 1}
	released := locking.LockEvent{Prefix: "acct", Key: "acct:1", Outcome: locking.Released, Hold: time.Millisecond, Token: 1}
	b.ReportAllocs()
	for b.Loop() {
		obs.ObserveLockContext(ctx, acquired)
		obs.ObserveLockContext(ctx, released)
	}
}

// noopObserver does nothing and keeps no key (locking.KeyRetainer).
type noopObserver struct{}

func (noopObserver) ObserveLock(locking.LockEvent) {}
func (noopObserver) RetainsKeys() bool             { return false }

// BenchmarkInterleavedLockObserverNoop: locked memory Send without and with
// an observer that does nothing and keeps no key: the cost of the observer
// contract itself (clock readings, events), without the metrics.
func BenchmarkInterleavedLockObserverNoop(b *testing.B) {
	interleave(b, lockedLoop(b), lockedLoop(b, locking.WithObserver(noopObserver{})))
}

// BenchmarkInterleavedLockObserverFunc: the same with an ObserverFunc, which
// cannot say that it keeps no key, so each key gets a copy of its own.
func BenchmarkInterleavedLockObserverFunc(b *testing.B) {
	interleave(b, lockedLoop(b), lockedLoop(b, locking.WithObserver(locking.ObserverFunc(func(locking.LockEvent) {}))))
}

// BenchmarkInterleavedLockedTracingNoSDK: locked memory Send without and
// with WithTracing, no SDK installed: the global behavior's boxing and the
// lock-event observer's clock readings, no span.
func BenchmarkInterleavedLockedTracingNoSDK(b *testing.B) {
	interleave(b, lockedLoop(b), lockedLoop(b, otelmediator.WithTracing()))
}

// BenchmarkInterleavedLockProducer: locked memory Send without and with the
// lock metrics aggregated by lockproducer (no SDK call per event), in
// alternating rounds (budget: ratio ≤ 1.3).
func BenchmarkInterleavedLockProducer(b *testing.B) {
	interleave(b, lockedLoop(b), lockedLoop(b, locking.WithObserver(lockproducer.New())))
}

// BenchmarkLockProducerObserve: one acquisition and its release aggregated
// by lockproducer, without the locking behavior around.
func BenchmarkLockProducerObserve(b *testing.B) {
	p := lockproducer.New()
	ctx := context.Background()
	acquired := locking.LockEvent{Prefix: "acct", Key: "acct:1", Outcome: locking.Acquired, Wait: time.Millisecond, Token: 1}
	released := locking.LockEvent{Prefix: "acct", Key: "acct:1", Outcome: locking.Released, Hold: time.Millisecond, Token: 1}
	b.ReportAllocs()
	for b.Loop() {
		p.ObserveLockContext(ctx, acquired)
		p.ObserveLockContext(ctx, released)
	}
}

// BenchmarkInterleavedTracingNoop: plain Send against Send through
// WithTracing on an explicit no-op provider: the global behaviors apply to
// no type, so nothing is added.
func BenchmarkInterleavedTracingNoop(b *testing.B) {
	interleave(b, pingLoop(b), pingLoop(b, otelmediator.WithTracing(otelmediator.WithTracerProvider(noop.NewTracerProvider()))))
}
