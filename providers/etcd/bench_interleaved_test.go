package etcd_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/etcd"
)

// BenchmarkUncontendedInterleaved runs, in each iteration, one raw
// concurrency.Mutex Lock+Unlock, one provider TryAcquire+Release and one
// Send through the locking behavior on the provider, back to back on one
// etcd member, so that all three meet the same load on a shared machine.
// It reports each one's median in µs and the medians' ratios to the Mutex.
func BenchmarkUncontendedInterleaved(b *testing.B) {
	c := startOne(b)
	ep := c.Members[0].Endpoint()
	ctx := context.Background()
	sess, err := concurrency.NewSession(newClient(b, ep), concurrency.WithTTL(15))
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	mu := concurrency.NewMutex(sess, "bench/interleaved/mutex")
	p := newProvider(b, nil, ep)
	m, err := mediator.New(
		etcd.WithEtcdDistributedLocking(ep),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](tokenHandler),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(ctx)
	var mutexD, providerD, sendD []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := mu.Lock(ctx); err != nil {
			b.Fatal(err)
		}
		if err := mu.Unlock(ctx); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		h, err := p.TryAcquire(ctx, "bench:interleaved:provider", 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Release(ctx); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := mediator.Send(ctx, m, withdraw{Account: "interleaved"}); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		mutexD = append(mutexD, t1.Sub(t0))
		providerD = append(providerD, t2.Sub(t1))
		sendD = append(sendD, t3.Sub(t2))
	}
	b.StopTimer()
	mm, pm, sm := median(mutexD), median(providerD), median(sendD)
	b.ReportMetric(float64(mm.Microseconds()), "mutex-µs")
	b.ReportMetric(float64(pm.Microseconds()), "provider-µs")
	b.ReportMetric(float64(sm.Microseconds()), "send-µs")
	b.ReportMetric(float64(pm)/float64(mm), "provider/mutex")
	b.ReportMetric(float64(sm)/float64(mm), "send/mutex")
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
