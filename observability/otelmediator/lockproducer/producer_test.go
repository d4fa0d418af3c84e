package lockproducer_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator/lockproducer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func scope(t *testing.T, reader *sdkmetric.ManualReader) metricdata.ScopeMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if len(rm.ScopeMetrics) != 1 {
		t.Fatalf("%d scopes, want 1", len(rm.ScopeMetrics))
	}
	sm := rm.ScopeMetrics[0]
	sort.Slice(sm.Metrics, func(i, j int) bool { return sm.Metrics[i].Name < sm.Metrics[j].Name })
	key := func(s attribute.Set) string { return s.Encoded(attribute.DefaultEncoder()) }
	for i, m := range sm.Metrics {
		switch d := m.Data.(type) {
		case metricdata.Histogram[float64]:
			sort.Slice(d.DataPoints, func(i, j int) bool { return key(d.DataPoints[i].Attributes) < key(d.DataPoints[j].Attributes) })
		case metricdata.Sum[int64]:
			sort.Slice(d.DataPoints, func(i, j int) bool { return key(d.DataPoints[i].Attributes) < key(d.DataPoints[j].Attributes) })
		default:
			t.Fatalf("metric %s: data %T", m.Name, m.Data)
		}
		sm.Metrics[i] = m
	}
	return sm
}

// TestProducerMatchesLockMetrics: the same lock events give the same
// metrics through the Producer as through the SDK instruments of
// otelmediator.LockMetrics: names, units, descriptions, kinds, attributes,
// bucket counts, sums and counters; only the timestamps differ.
func TestProducerMatchesLockMetrics(t *testing.T) {
	sdkReader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkReader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	viaSDK, err := otelmediator.NewLockMetrics(otelmediator.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	p := lockproducer.New()
	producerReader := sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
	pmp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(producerReader))
	defer func() { _ = pmp.Shutdown(context.Background()) }()

	ms := time.Millisecond
	events := []locking.LockEvent{
		{Prefix: "acct", Key: "acct:1", Outcome: locking.Acquired, Wait: 250 * ms, Token: 1},
		{Prefix: "acct", Key: "acct:2", Outcome: locking.Acquired, Wait: 0, Token: 1},
		{Prefix: "acct", Key: "acct:3", Outcome: locking.Acquired, Wait: ms, Token: 1}, // on a bound: its bucket
		{Prefix: "acct", Key: "acct:1", Outcome: locking.Contended, Wait: time.Second},
		{Prefix: "acct", Key: "acct:3", Outcome: locking.Unavailable, Wait: 2 * time.Second, Err: errors.New("down")},
		{Prefix: "acct", Key: "acct:4", Outcome: locking.Cancelled, Wait: 90 * time.Second, Err: context.Canceled},
		{Prefix: "acct", Key: "acct:1", Outcome: locking.Released, Hold: 100 * ms, Token: 1},
		{Prefix: "acct", Key: "acct:2", Outcome: locking.Lost, Hold: 3 * time.Second, Token: 1},
		{Prefix: "report", Key: "report", Outcome: locking.Acquired, Wait: 5 * ms, Token: 9},
		{Prefix: "report", Key: "report", Outcome: locking.Released, Hold: 7 * time.Second, Token: 9},
	}
	for _, e := range events {
		viaSDK.ObserveLockContext(context.Background(), e)
		p.ObserveLockContext(context.Background(), e)
	}
	want, got := scope(t, sdkReader), scope(t, producerReader)
	if len(got.Metrics) != 5 {
		t.Fatalf("%d metrics, want 5", len(got.Metrics))
	}
	metricdatatest.AssertEqual(t, want, got, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	if err := viaSDK.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestProducerEmpty: nothing observed, nothing produced.
func TestProducerEmpty(t *testing.T) {
	sms, err := lockproducer.New().Produce(context.Background())
	if err != nil || len(sms) != 0 {
		t.Fatalf("Produce = %v, %v; want nothing", sms, err)
	}
}

// TestProducerConcurrentEvents: events recorded from several goroutines
// at once are all counted (run with -race).
func TestProducerConcurrentEvents(t *testing.T) {
	p := lockproducer.New()
	const workers, each = 8, 500
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				p.ObserveLock(locking.LockEvent{Prefix: "acct", Outcome: locking.Acquired, Wait: time.Duration(w*each+i) * time.Microsecond})
				p.ObserveLock(locking.LockEvent{Prefix: "acct", Outcome: locking.Released, Hold: time.Millisecond})
			}
		}()
	}
	for range workers {
		<-done
	}
	sms, err := p.Produce(context.Background())
	if err != nil || len(sms) != 1 {
		t.Fatalf("Produce = %v, %v", sms, err)
	}
	for _, m := range sms[0].Metrics {
		switch m.Name {
		case otelmediator.LockWaitDuration, otelmediator.LockHoldDuration:
			pt := m.Data.(metricdata.Histogram[float64]).DataPoints[0]
			if pt.Count != workers*each {
				t.Errorf("%s count %d, want %d", m.Name, pt.Count, workers*each)
			}
		case otelmediator.LockHeld:
			if v := m.Data.(metricdata.Sum[int64]).DataPoints[0].Value; v != 0 {
				t.Errorf("held %d after every release, want 0", v)
			}
		case otelmediator.LockAcquisitions:
			if v := m.Data.(metricdata.Sum[int64]).DataPoints[0].Value; v != workers*each {
				t.Errorf("acquisitions %d, want %d", v, workers*each)
			}
		}
	}
}

// TestProducerReadWhileRecording: a collection made while events are
// recorded reads consistent values: the locks held (acquired less released)
// never below 0 nor above the number of holders, and a histogram's extremes
// always include its values (run with -race).
func TestProducerReadWhileRecording(t *testing.T) {
	p := lockproducer.New()
	const workers, each = 4, 2000
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				p.ObserveLock(locking.LockEvent{Prefix: "acct", Outcome: locking.Acquired, Wait: time.Duration(1+i%7) * time.Millisecond})
				p.ObserveLock(locking.LockEvent{Prefix: "acct", Outcome: locking.Released, Hold: time.Duration(1+i%5) * time.Millisecond})
			}
		}()
	}
	finished, reads := 0, 0
	for finished < workers {
		select {
		case <-done:
			finished++
			continue
		default:
		}
		sms, err := p.Produce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		reads++
		for _, sm := range sms {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case metricdata.Sum[int64]:
					if v := d.DataPoints[0].Value; m.Name == otelmediator.LockHeld && (v < 0 || v > workers) {
						t.Fatalf("held %d while %d workers record, want 0…%d", v, workers, workers)
					}
				case metricdata.Histogram[float64]:
					for _, pt := range d.DataPoints {
						lo, _ := pt.Min.Value()
						hi, _ := pt.Max.Value()
						if lo < 0.001 || hi > 0.007 || lo > hi {
							t.Fatalf("%s min %v max %v, want within [0.001, 0.007]", m.Name, lo, hi)
						}
					}
				}
			}
		}
	}
	t.Logf("%d collections while recording", reads)
}
