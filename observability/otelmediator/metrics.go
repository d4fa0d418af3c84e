package otelmediator

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// Names of the lock instruments; docs/locking.md describes each.
const (
	// LockWaitDuration is a histogram of the time callers waited for a
	// lock, in seconds, by prefix and outcome (acquired, contended,
	// unavailable, cancelled).
	LockWaitDuration = "turbomediator.lock.wait.duration"
	// LockHoldDuration is a histogram of the time locks were held, in
	// seconds, by prefix, recorded at release.
	LockHoldDuration = "turbomediator.lock.hold.duration"
	// LockAcquisitions counts lock attempts by prefix and outcome.
	LockAcquisitions = "turbomediator.lock.acquisitions"
	// LockHeld is an up-down counter of the locks held now, by prefix.
	LockHeld = "turbomediator.lock.held"
	// LockLost counts held locks lost, by prefix.
	LockLost = "turbomediator.lock.lost"
)

// WithLockMetrics registers a [LockMetrics] as an observer of the locking
// behavior. A failure to create an instrument goes to otel.Handle, as
// OpenTelemetry instrumentations do, and the instrument records nothing.
func WithLockMetrics(opts ...Option) mediator.Option {
	m, err := NewLockMetrics(opts...)
	if err != nil {
		otel.Handle(err)
	}
	return mediator.Options("otelmediator.WithLockMetrics", locking.WithObserver(m))
}

// LockMetrics is a [locking.ContextObserver] that records lock outcomes
// through an OpenTelemetry meter. Make one with [NewLockMetrics]; it is safe
// for concurrent use.
//
// The two histograms are recorded per event. The counters are asynchronous:
// an event adds to an atomic counter of its own, which a callback reports
// when the meter collects, so an acquisition and its release cost two
// recordings on the meter instead of five.
type LockMetrics struct {
	wait         metric.Float64Histogram
	hold         metric.Float64Histogram
	acquisitions metric.Int64ObservableCounter
	held         metric.Int64ObservableUpDownCounter
	lost         metric.Int64ObservableCounter
	callback     metric.Registration

	// sets holds the attribute options of each prefix seen, copied on
	// write: the few prefixes are added once, then only read.
	sets atomic.Pointer[map[string]*prefixSets]
	mu   sync.Mutex // serialises writers of sets
}

// measure is one attribute set, as the options the instruments take.
type measure struct {
	record  []metric.RecordOption
	observe []metric.ObserveOption
}

func newMeasure(kvs ...attribute.KeyValue) measure {
	o := metric.WithAttributeSet(attribute.NewSet(kvs...))
	return measure{record: []metric.RecordOption{o}, observe: []metric.ObserveOption{o}}
}

// prefixSets are the attribute sets of one prefix, alone and with each
// outcome, and its counters.
type prefixSets struct {
	prefix       measure
	byOutcome    [locking.Released + 1]measure
	acquisitions [locking.Released + 1]atomic.Int64
	held         atomic.Int64
	lost         atomic.Int64
}

// NewLockMetrics creates the lock instruments on the meter of the
// configured MeterProvider (by default the global one). An error tells which
// instruments failed; they record nothing, the others work.
func NewLockMetrics(opts ...Option) (*LockMetrics, error) {
	cfg := newConfig(opts)
	mp := cfg.meterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(ScopeName)
	m := &LockMetrics{}
	var errs [6]error
	m.wait, errs[0] = meter.Float64Histogram(LockWaitDuration, metric.WithUnit("s"),
		metric.WithDescription("Time callers waited for a distributed lock, by outcome."),
		metric.WithExplicitBucketBoundaries(durationBuckets()...))
	m.hold, errs[1] = meter.Float64Histogram(LockHoldDuration, metric.WithUnit("s"),
		metric.WithDescription("Time distributed locks were held, recorded at release."),
		metric.WithExplicitBucketBoundaries(durationBuckets()...))
	m.acquisitions, errs[2] = meter.Int64ObservableCounter(LockAcquisitions, metric.WithUnit("{acquisition}"),
		metric.WithDescription("Distributed lock attempts, by outcome."))
	m.held, errs[3] = meter.Int64ObservableUpDownCounter(LockHeld, metric.WithUnit("{lock}"),
		metric.WithDescription("Distributed locks held now."))
	m.lost, errs[4] = meter.Int64ObservableCounter(LockLost, metric.WithUnit("{lock}"),
		metric.WithDescription("Held distributed locks the provider could no longer vouch for."))
	empty := map[string]*prefixSets{}
	m.sets.Store(&empty)
	m.callback, errs[5] = meter.RegisterCallback(m.observe, m.acquisitions, m.held, m.lost)
	return m, errors.Join(errs[:]...)
}

// Close unregisters the callback that reports the counters; the histograms
// go on recording.
func (m *LockMetrics) Close() error {
	if m.callback == nil {
		return nil
	}
	return m.callback.Unregister()
}

// observe reports the counters of every prefix seen: held and lost always,
// an acquisition outcome once it happened.
func (m *LockMetrics) observe(_ context.Context, o metric.Observer) error {
	for _, s := range *m.sets.Load() {
		o.ObserveInt64(m.held, s.held.Load(), s.prefix.observe...)
		o.ObserveInt64(m.lost, s.lost.Load(), s.prefix.observe...)
		for out := locking.Acquired; out <= locking.Released; out++ {
			if n := s.acquisitions[out].Load(); n != 0 {
				o.ObserveInt64(m.acquisitions, n, s.byOutcome[out].observe...)
			}
		}
	}
	return nil
}

// durationBuckets are the bucket boundaries the histograms advise, in
// seconds: OpenTelemetry's default ones are meant for milliseconds. A View
// of the application overrides them.
func durationBuckets() []float64 { return DurationBuckets() }

// DurationBuckets returns the upper bounds, in seconds, of the buckets of
// the lock wait and hold histograms: from 1ms to 60s.
func DurationBuckets() []float64 {
	return []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
}

// setsOf returns the attribute sets of prefix, making them on first use.
func (m *LockMetrics) setsOf(prefix string) *prefixSets {
	if s, ok := (*m.sets.Load())[prefix]; ok {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.sets.Load()
	if s, ok := old[prefix]; ok {
		return s
	}
	p := LockPrefixKey.String(prefix)
	s := &prefixSets{prefix: newMeasure(p)}
	for o := locking.Acquired; o <= locking.Released; o++ {
		s.byOutcome[o] = newMeasure(p, OutcomeKey.String(o.String()))
	}
	sets := make(map[string]*prefixSets, len(old)+1)
	for k, v := range old {
		sets[k] = v
	}
	sets[prefix] = s
	m.sets.Store(&sets)
	return s
}

// RetainsKeys returns false: the metrics never see the key, only the
// prefix (see [locking.KeyRetainer]).
func (m *LockMetrics) RetainsKeys() bool { return false }

// ObserveLock records e without a context (no exemplar).
func (m *LockMetrics) ObserveLock(e locking.LockEvent) {
	m.ObserveLockContext(context.Background(), e)
}

// ObserveLockContext records e; ctx lets the SDK link an exemplar to the
// request's trace.
func (m *LockMetrics) ObserveLockContext(ctx context.Context, e locking.LockEvent) {
	if e.Outcome < locking.Acquired || e.Outcome > locking.Released {
		return
	}
	s := m.setsOf(e.Prefix)
	switch e.Outcome {
	case locking.Acquired, locking.Contended, locking.Unavailable, locking.Cancelled:
		m.wait.Record(ctx, e.Wait.Seconds(), s.byOutcome[e.Outcome].record...)
		s.acquisitions[e.Outcome].Add(1)
		if e.Outcome == locking.Acquired {
			s.held.Add(1)
		}
	case locking.Released:
		m.hold.Record(ctx, e.Hold.Seconds(), s.prefix.record...)
		s.held.Add(-1)
	case locking.Lost:
		s.lost.Add(1)
	}
}
