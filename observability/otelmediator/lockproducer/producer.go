// Package lockproducer aggregates the lock metrics of
// [otelmediator.LockMetrics] inside the observer, with a few atomic
// additions per lock event, and hands them to an OpenTelemetry SDK reader as
// a [metric.Producer]: the same instruments, names, units and attributes,
// without an SDK recording per event.
//
// It imports the SDK (go.opentelemetry.io/otel/sdk/metric), which the
// otelmediator package itself does not: use it where the application
// already has the SDK.
//
//	p := lockproducer.New()
//	exporter, err := prometheus.New(prometheus.WithProducer(p)) // or sdkmetric.NewManualReader(sdkmetric.WithProducer(p)), ...
//	m, err := mediator.New(locking.WithObserver(p), ...)
//
// The data it produces are cumulative, starting when New was called. The
// histogram bounds are [otelmediator.DurationBuckets]; a View of the
// application does not apply to produced metrics.
package lockproducer

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator"
)

// Producer is a [locking.ContextObserver] and a [metric.Producer]. Make one
// with [New]; it is safe for concurrent use.
type Producer struct {
	start  time.Time
	bounds []float64       // seconds, for the data points
	limits []time.Duration // the same bounds, for the events

	// prefixes holds the aggregates of each prefix seen, copied on write:
	// the few prefixes are added once, then only read.
	prefixes atomic.Pointer[map[string]*prefixData]
	// last is the prefix of the latest event, which the next one most
	// likely has too (a message type's Sends come in runs): comparing its
	// name, the same string as the event's, spares a map lookup.
	last atomic.Pointer[prefixData]
	mu   sync.Mutex // serialises writers of prefixes
}

// histogram is one histogram time series, aggregated with atomics: an event
// adds to one bucket and to the sum, the extremes are mostly only read.
type histogram struct {
	attrs   attribute.Set
	buckets []atomic.Uint64 // len(bounds)+1; the last is +Inf
	sumNs   atomic.Int64
	// minNs and maxNs are the extremes, updated before the bucket is
	// counted, so they are valid once a bucket count is seen.
	minNs atomic.Int64
	maxNs atomic.Int64
}

// prefixData are the aggregates of one prefix. The acquisitions of an
// outcome are the count of its wait histogram and the locks held are the
// acquired ones less the released ones (the count of the hold histogram), so
// an event adds to its histogram only (see heldNow).
type prefixData struct {
	name      string
	attrs     attribute.Set // the prefix alone
	byOutcome [locking.Released + 1]attribute.Set
	wait      [locking.Released + 1]histogram
	hold      histogram
	lost      atomic.Int64
}

// count is the number of values in h: the sum of its buckets, each read
// once. While values are added it is the count at some instant between the
// first read and the last, the counts growing one at a time.
func (h *histogram) count() uint64 {
	var n uint64
	for i := range h.buckets {
		n += h.buckets[i].Load()
	}
	return n
}

// heldNow returns the locks of d held at one instant: the acquired count
// read between two equal readings of the released one, which therefore did
// not change meanwhile. Read in turn without that check, a collection made
// while locks come and go could count releases without their acquisitions
// or the reverse. After many tries under a constant stream of releases it
// settles for the acquired count less the releases read after it, which is
// at most what was held when the acquired count was read, and at least 0.
func (d *prefixData) heldNow() int64 {
	const tries = 64
	var acquired, after uint64
	for range tries {
		before := d.hold.count()
		acquired = d.wait[locking.Acquired].count()
		if after = d.hold.count(); after == before {
			return int64(acquired - before)
		}
	}
	return max(int64(acquired)-int64(after), 0)
}

var (
	_ locking.ContextObserver = (*Producer)(nil)
	_ locking.KeyRetainer     = (*Producer)(nil)
	_ metric.Producer         = (*Producer)(nil)
)

// New returns a Producer with nothing observed yet.
func New() *Producer {
	p := &Producer{start: time.Now(), bounds: otelmediator.DurationBuckets()}
	for _, b := range p.bounds {
		p.limits = append(p.limits, time.Duration(b*float64(time.Second)))
	}
	empty := map[string]*prefixData{}
	p.prefixes.Store(&empty)
	return p
}

func (p *Producer) newHistogram(h *histogram, attrs attribute.Set) {
	h.attrs = attrs
	h.buckets = make([]atomic.Uint64, len(p.bounds)+1)
	h.minNs.Store(math.MaxInt64)
	h.maxNs.Store(math.MinInt64)
}

// prefix returns the aggregates of prefix, making them on first use.
func (p *Producer) prefix(prefix string) *prefixData {
	if d := p.last.Load(); d != nil && d.name == prefix {
		return d
	}
	d, ok := (*p.prefixes.Load())[prefix]
	if !ok {
		d = p.addPrefix(prefix)
	}
	p.last.Store(d)
	return d
}

// addPrefix makes the aggregates of prefix, unless another caller just did.
func (p *Producer) addPrefix(prefix string) *prefixData {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.prefixes.Load()
	if d, ok := old[prefix]; ok {
		return d
	}
	kv := otelmediator.LockPrefixKey.String(prefix)
	d := &prefixData{name: prefix, attrs: attribute.NewSet(kv)}
	for o := locking.Acquired; o <= locking.Released; o++ {
		d.byOutcome[o] = attribute.NewSet(kv, otelmediator.OutcomeKey.String(o.String()))
		p.newHistogram(&d.wait[o], d.byOutcome[o])
	}
	p.newHistogram(&d.hold, d.attrs)
	next := make(map[string]*prefixData, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[prefix] = d
	p.prefixes.Store(&next)
	return d
}

// record adds one duration to h: the extremes and the sum first, then the
// bucket, whose count tells a reader that they include d.
func (p *Producer) record(h *histogram, d time.Duration) {
	i := 0
	for i < len(p.limits) && d > p.limits[i] {
		i++
	}
	lower(&h.minNs, int64(d))
	raise(&h.maxNs, int64(d))
	h.sumNs.Add(int64(d))
	h.buckets[i].Add(1)
}

// RetainsKeys returns false: the aggregates never see the key, only the
// prefix (see [locking.KeyRetainer]).
func (p *Producer) RetainsKeys() bool { return false }

// ObserveLock records e.
func (p *Producer) ObserveLock(e locking.LockEvent) { p.observe(&e) }

// ObserveLockContext records e; the context is not used (no exemplars).
func (p *Producer) ObserveLockContext(_ context.Context, e locking.LockEvent) { p.observe(&e) }

func (p *Producer) observe(e *locking.LockEvent) {
	switch e.Outcome {
	case locking.Acquired, locking.Contended, locking.Unavailable, locking.Cancelled:
		p.record(&p.prefix(e.Prefix).wait[e.Outcome], e.Wait)
	case locking.Released:
		p.record(&p.prefix(e.Prefix).hold, e.Hold)
	case locking.Lost:
		p.prefix(e.Prefix).lost.Add(1)
	}
}

// Produce returns the lock metrics, cumulative since New, under the
// otelmediator instrumentation scope.
func (p *Producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	now := time.Now()
	var (
		wait, hold               []metricdata.HistogramDataPoint[float64]
		acquisitions, held, lost []metricdata.DataPoint[int64]
	)
	for _, d := range *p.prefixes.Load() {
		point := func(attrs attribute.Set, v int64) metricdata.DataPoint[int64] {
			return metricdata.DataPoint[int64]{Attributes: attrs, StartTime: p.start, Time: now, Value: v}
		}
		held = append(held, point(d.attrs, d.heldNow()))
		lost = append(lost, point(d.attrs, d.lost.Load()))
		for o := locking.Acquired; o <= locking.Released; o++ {
			if w, ok := p.histogramPoint(&d.wait[o], now); ok {
				wait = append(wait, w)
				acquisitions = append(acquisitions, point(d.byOutcome[o], int64(w.Count)))
			}
		}
		if h, ok := p.histogramPoint(&d.hold, now); ok {
			hold = append(hold, h)
		}
	}
	var ms []metricdata.Metrics
	if len(wait) > 0 {
		ms = append(ms, metricdata.Metrics{Name: otelmediator.LockWaitDuration, Unit: "s",
			Description: "Time callers waited for a distributed lock, by outcome.",
			Data:        metricdata.Histogram[float64]{DataPoints: wait, Temporality: metricdata.CumulativeTemporality}})
	}
	if len(hold) > 0 {
		ms = append(ms, metricdata.Metrics{Name: otelmediator.LockHoldDuration, Unit: "s",
			Description: "Time distributed locks were held, recorded at release.",
			Data:        metricdata.Histogram[float64]{DataPoints: hold, Temporality: metricdata.CumulativeTemporality}})
	}
	if len(acquisitions) > 0 {
		ms = append(ms, metricdata.Metrics{Name: otelmediator.LockAcquisitions, Unit: "{acquisition}",
			Description: "Distributed lock attempts, by outcome.",
			Data:        metricdata.Sum[int64]{DataPoints: acquisitions, Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}})
	}
	if len(held) > 0 {
		ms = append(ms,
			metricdata.Metrics{Name: otelmediator.LockHeld, Unit: "{lock}", Description: "Distributed locks held now.",
				Data: metricdata.Sum[int64]{DataPoints: held, Temporality: metricdata.CumulativeTemporality}},
			metricdata.Metrics{Name: otelmediator.LockLost, Unit: "{lock}",
				Description: "Held distributed locks the provider could no longer vouch for.",
				Data:        metricdata.Sum[int64]{DataPoints: lost, Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}})
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: otelmediator.ScopeName}, Metrics: ms}}, nil
}

// histogramPoint reads h; false when h has no value yet. The count is the
// sum of the buckets read, so the two agree even while events are recorded.
func (p *Producer) histogramPoint(h *histogram, now time.Time) (metricdata.HistogramDataPoint[float64], bool) {
	counts := make([]uint64, len(h.buckets))
	var n uint64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		n += counts[i]
	}
	if n == 0 {
		return metricdata.HistogramDataPoint[float64]{Count: 0}, false
	}
	return metricdata.HistogramDataPoint[float64]{
		Attributes: h.attrs, StartTime: p.start, Time: now,
		Count: n, Bounds: p.bounds, BucketCounts: counts,
		Min: metricdata.NewExtrema(seconds(h.minNs.Load())),
		Max: metricdata.NewExtrema(seconds(h.maxNs.Load())),
		Sum: seconds(h.sumNs.Load()),
	}, true
}

func seconds(ns int64) float64 {
	return time.Duration(ns).Seconds()
}

// lower sets a to v if v is smaller.
func lower(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v >= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// raise sets a to v if v is larger.
func raise(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
