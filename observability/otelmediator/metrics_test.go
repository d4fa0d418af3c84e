package otelmediator_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

func meterProvider(t testing.TB) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, reader
}

// collect prints every data point of the reader's metrics, sorted, one per
// line: "name unit {attrs} value" (histograms: "count=N sum=S").
func collect(t *testing.T, reader *sdkmetric.ManualReader) string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var lines []string
	set := func(s attribute.Set) string { return "{" + attrs(s.ToSlice()) + "}" }
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelmediator.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelmediator.ScopeName)
		}
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s %s %s count=%d sum=%g", m.Name, m.Unit, set(p.Attributes), p.Count, p.Sum))
				}
			case metricdata.Sum[int64]:
				kind := "counter"
				if !d.IsMonotonic {
					kind = "updown"
				}
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s %s %s %s %d", m.Name, m.Unit, kind, set(p.Attributes), p.Value))
				}
			default:
				t.Errorf("metric %s has data %T", m.Name, m.Data)
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestLockMetricsKnownEvents: a run of known waits and holds gives exact
// histogram counts and sums, counters and the held gauge; attributes carry
// the prefix and the outcome, never the key.
func TestLockMetricsKnownEvents(t *testing.T) {
	mp, reader := meterProvider(t)
	obs, err := otelmediator.NewLockMetrics(otelmediator.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	for _, e := range []locking.LockEvent{
		{Prefix: "acct", Key: "acct:1", Outcome: locking.Acquired, Wait: 250 * ms, Token: 1},
		{Prefix: "acct", Key: "acct:2", Outcome: locking.Acquired, Wait: 500 * ms, Token: 1},
		{Prefix: "acct", Key: "acct:1", Outcome: locking.Contended, Wait: time.Second},
		{Prefix: "acct", Key: "acct:3", Outcome: locking.Unavailable, Wait: 2 * time.Second, Err: errors.New("down")},
		{Prefix: "acct", Key: "acct:4", Outcome: locking.Cancelled, Wait: 125 * ms, Err: context.Canceled},
		{Prefix: "acct", Key: "acct:1", Outcome: locking.Released, Hold: 1500 * ms, Token: 1},
		{Prefix: "report", Key: "report", Outcome: locking.Acquired, Wait: 0, Token: 9},
		{Prefix: "report", Key: "report", Outcome: locking.Lost, Hold: 4 * time.Second, Token: 9},
		{Prefix: "report", Key: "report", Outcome: locking.Released, Hold: 4500 * ms, Token: 9},
	} {
		obs.ObserveLockContext(context.Background(), e)
	}
	obs.ObserveLock(locking.LockEvent{Prefix: "acct", Key: "acct:2", Outcome: locking.Released, Hold: 750 * ms, Token: 1})

	want := strings.Join([]string{
		"turbomediator.lock.acquisitions {acquisition} counter {turbomediator.lock.prefix=acct, turbomediator.outcome=acquired} 2",
		"turbomediator.lock.acquisitions {acquisition} counter {turbomediator.lock.prefix=acct, turbomediator.outcome=cancelled} 1",
		"turbomediator.lock.acquisitions {acquisition} counter {turbomediator.lock.prefix=acct, turbomediator.outcome=contended} 1",
		"turbomediator.lock.acquisitions {acquisition} counter {turbomediator.lock.prefix=acct, turbomediator.outcome=unavailable} 1",
		"turbomediator.lock.acquisitions {acquisition} counter {turbomediator.lock.prefix=report, turbomediator.outcome=acquired} 1",
		"turbomediator.lock.held {lock} updown {turbomediator.lock.prefix=acct} 0",
		"turbomediator.lock.held {lock} updown {turbomediator.lock.prefix=report} 0",
		"turbomediator.lock.hold.duration s {turbomediator.lock.prefix=acct} count=2 sum=2.25",
		"turbomediator.lock.hold.duration s {turbomediator.lock.prefix=report} count=1 sum=4.5",
		"turbomediator.lock.lost {lock} counter {turbomediator.lock.prefix=acct} 0",
		"turbomediator.lock.lost {lock} counter {turbomediator.lock.prefix=report} 1",
		"turbomediator.lock.wait.duration s {turbomediator.lock.prefix=acct, turbomediator.outcome=acquired} count=2 sum=0.75",
		"turbomediator.lock.wait.duration s {turbomediator.lock.prefix=acct, turbomediator.outcome=cancelled} count=1 sum=0.125",
		"turbomediator.lock.wait.duration s {turbomediator.lock.prefix=acct, turbomediator.outcome=contended} count=1 sum=1",
		"turbomediator.lock.wait.duration s {turbomediator.lock.prefix=acct, turbomediator.outcome=unavailable} count=1 sum=2",
		"turbomediator.lock.wait.duration s {turbomediator.lock.prefix=report, turbomediator.outcome=acquired} count=1 sum=0",
	}, "\n")
	if got := collect(t, reader); got != want {
		t.Errorf("metrics:\n got:\n%s\nwant:\n%s", got, want)
	}
}

// TestLockMetricsThroughMediator: registered with WithLockMetrics, the
// observer counts what the locking behavior does; held goes back to zero.
func TestLockMetricsThroughMediator(t *testing.T) {
	mp, reader := meterProvider(t)
	entered, leave := make(chan struct{}), make(chan struct{})
	m := build(t, otelmediator.WithLockMetrics(otelmediator.WithMeterProvider(mp)),
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[withdraw, int](),
		mediator.WithHandler[withdraw, int](func(ctx context.Context, w withdraw) (int, error) {
			if w.ID == "busy" {
				close(entered)
				<-leave
			}
			return 1, nil
		}))
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { _, err := mediator.Send(ctx, m, withdraw{ID: "busy"}); done <- err }()
	<-entered
	for _, id := range []string{"1", "2"} {
		if _, err := mediator.Send(ctx, m, withdraw{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mediator.Send(ctx, m, withdraw{ID: "busy"}); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("Send on a held key = %v, want ErrNotAcquired", err)
	}
	// While "busy" is held: one lock held.
	if got := collect(t, reader) + "\n"; !strings.Contains(got, "turbomediator.lock.held {lock} updown {turbomediator.lock.prefix=acct} 1\n") {
		t.Errorf("while one lock is held:\n%s", got)
	}
	close(leave)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := collect(t, reader)
	for _, line := range []string{
		"turbomediator.lock.acquisitions {acquisition} counter {turbomediator.lock.prefix=acct, turbomediator.outcome=acquired} 3",
		"turbomediator.lock.acquisitions {acquisition} counter {turbomediator.lock.prefix=acct, turbomediator.outcome=contended} 1",
		"turbomediator.lock.held {lock} updown {turbomediator.lock.prefix=acct} 0",
		"turbomediator.lock.hold.duration s {turbomediator.lock.prefix=acct} count=3 ",
		"turbomediator.lock.wait.duration s {turbomediator.lock.prefix=acct, turbomediator.outcome=acquired} count=3 ",
		"turbomediator.lock.wait.duration s {turbomediator.lock.prefix=acct, turbomediator.outcome=contended} count=1 ",
	} {
		if !strings.Contains(got+"\n", line) {
			t.Errorf("metrics lack %q:\n%s", line, got)
		}
	}
	if strings.Contains(got, "acct:") {
		t.Errorf("a lock key leaked into the metrics:\n%s", got)
	}
}

// TestLockMetricsBucketsInSeconds: the histograms advise boundaries in
// seconds, not OpenTelemetry's default ones (meant for milliseconds).
func TestLockMetricsBucketsInSeconds(t *testing.T) {
	mp, reader := meterProvider(t)
	obs, err := otelmediator.NewLockMetrics(otelmediator.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	obs.ObserveLock(locking.LockEvent{Prefix: "p", Outcome: locking.Acquired, Wait: 3 * time.Millisecond})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name != otelmediator.LockWaitDuration {
			continue
		}
		p := m.Data.(metricdata.Histogram[float64]).DataPoints[0]
		want := []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
		if fmt.Sprint(p.Bounds) != fmt.Sprint(want) {
			t.Fatalf("bounds %v, want %v", p.Bounds, want)
		}
		if p.BucketCounts[1] != 1 {
			t.Fatalf("a 3ms wait is not in the (1ms, 5ms] bucket: %v", p.BucketCounts)
		}
		if err := obs.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no %s metric", otelmediator.LockWaitDuration)
}
