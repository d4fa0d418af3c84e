package lockproducer_test

import (
	"context"
	"fmt"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator/lockproducer"
)

// The producer observes the locks (register it with locking.WithObserver)
// and an SDK reader collects what it aggregated.
func ExampleNew() {
	p := lockproducer.New()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(p))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	// What the locking behavior reports for one withdrawal.
	p.ObserveLock(locking.LockEvent{Prefix: "account", Key: "account:42", Outcome: locking.Acquired, Wait: 3 * time.Millisecond, Token: 1})
	p.ObserveLock(locking.LockEvent{Prefix: "account", Key: "account:42", Outcome: locking.Released, Hold: 20 * time.Millisecond, Token: 1})

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Histogram[float64]:
			fmt.Printf("%s (%s): count %d, sum %g\n", m.Name, m.Unit, d.DataPoints[0].Count, d.DataPoints[0].Sum)
		case metricdata.Sum[int64]:
			fmt.Printf("%s (%s): %d\n", m.Name, m.Unit, d.DataPoints[0].Value)
		}
	}
	// Output:
	// turbomediator.lock.wait.duration (s): count 1, sum 0.003
	// turbomediator.lock.hold.duration (s): count 1, sum 0.02
	// turbomediator.lock.acquisitions ({acquisition}): 1
	// turbomediator.lock.held ({lock}): 0
	// turbomediator.lock.lost ({lock}): 0
}
