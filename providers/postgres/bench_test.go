package postgres_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// The benchmarks share the package's throwaway cluster, each in a database
// of its own, so the raw baseline and the provider meet the same server in
// the same run.

// rawLock is the baseline: the two round trips any advisory lock needs,
// pg_try_advisory_lock and pg_advisory_unlock, on one connection of its own.
type rawLock struct{ conn *pgx.Conn }

func newRawLock(b *testing.B, dsn string) rawLock {
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close(context.Background()) })
	return rawLock{conn}
}

func (r rawLock) lockUnlock(b *testing.B, id int64) {
	ctx := context.Background()
	var ok bool
	if err := r.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", id).Scan(&ok); err != nil || !ok {
		b.Fatalf("pg_try_advisory_lock: %v, %v", ok, err)
	}
	if err := r.conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", id).Scan(&ok); err != nil || !ok {
		b.Fatalf("pg_advisory_unlock: %v, %v", ok, err)
	}
}

// benchMediator is a mediator whose withdraw command is locked by a
// provider on dsn and whose handler does nothing.
func benchMediator(b *testing.B, dsn string) *mediator.Mediator {
	m, err := mediator.New(
		postgres.WithPostgresDistributedLocking(dsn),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(context.Context, withdraw) (uint64, error) { return 0, nil }),
	)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

// BenchmarkUncontended is one acquisition and release of a free lock: the
// raw pg_try_advisory_lock + pg_advisory_unlock, the provider's
// TryAcquire(ctx, key, 0) + Release, and a Send through the mediator and the
// locking behavior on the provider.
func BenchmarkUncontended(b *testing.B) {
	dsn := database(b)
	ctx := context.Background()
	b.Run("raw", func(b *testing.B) {
		r := newRawLock(b, dsn)
		b.ReportAllocs()
		for b.Loop() {
			r.lockUnlock(b, 42)
		}
	})
	b.Run("provider", func(b *testing.B) {
		p := newProvider(b, dsn, nil)
		b.ReportAllocs()
		for b.Loop() {
			h, err := p.TryAcquire(ctx, "bench:provider", 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := h.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("send", func(b *testing.B) {
		m := benchMediator(b, dsn)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := mediator.Send(ctx, m, withdraw{Account: "bench"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUncontendedInterleaved runs the three operations of
// BenchmarkUncontended in turn within each op (rotating which goes first),
// so that all three meet the same moment's load on a shared machine, and
// reports the median latency of each and the ratios of those medians to the
// raw round trips'. An op is one of each.
func BenchmarkUncontendedInterleaved(b *testing.B) {
	dsn := database(b)
	ctx := context.Background()
	r := newRawLock(b, dsn)
	p := newProvider(b, dsn, nil)
	m := benchMediator(b, dsn)
	ops := []func(){
		func() { r.lockUnlock(b, 42) },
		func() {
			h, err := p.TryAcquire(ctx, "bench:i:provider", 0)
			if err != nil {
				b.Fatal(err)
			}
			_ = h.Release(ctx)
		},
		func() {
			if _, err := mediator.Send(ctx, m, withdraw{Account: "bench"}); err != nil {
				b.Fatal(err)
			}
		},
	}
	samples := make([][]time.Duration, len(ops))
	i := 0
	for b.Loop() {
		for j := range ops {
			k := (i + j) % len(ops)
			t0 := time.Now()
			ops[k]()
			samples[k] = append(samples[k], time.Since(t0))
		}
		i++
	}
	med := make([]float64, len(ops))
	for k := range samples {
		slices.Sort(samples[k])
		med[k] = float64(samples[k][len(samples[k])/2].Nanoseconds()) / 1e3
	}
	b.ReportMetric(med[0], "raw-µs")
	b.ReportMetric(med[1], "provider-µs")
	b.ReportMetric(med[2], "send-µs")
	b.ReportMetric(med[1]/med[0], "provider/raw")
	b.ReportMetric(med[2]/med[0], "send/raw")
}

const (
	contendedWorkers = 8
	contendedHold    = time.Millisecond
)

// BenchmarkContended has 8 workers on one key, each holding the lock 1ms per
// grant, on the PostgreSQL provider and, in the same run, on the Redis
// provider; an op is one grant. It reports grants/s, handoffs/s (grants to
// another worker than the previous holder) and fairness (fewest grants of a
// worker over most).
func BenchmarkContended(b *testing.B) {
	b.Run("postgres", func(b *testing.B) {
		p := newProvider(b, database(b), nil)
		runContended(b, func(ctx context.Context) (locking.Handle, error) {
			return p.TryAcquire(ctx, "bench:contended", 30*time.Second)
		})
	})
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		client := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
		b.Cleanup(func() { _ = client.Close() })
		p, err := redislocks.New(client, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = p.Close() })
		runContended(b, func(ctx context.Context) (locking.Handle, error) {
			return p.TryAcquire(ctx, "bench:contended", 30*time.Second)
		})
	})
}

func runContended(b *testing.B, lock func(context.Context) (locking.Handle, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		remaining atomic.Int64
		last      atomic.Int64
		handoffs  atomic.Int64
		grants    [contendedWorkers]atomic.Int64
		wg        sync.WaitGroup
	)
	remaining.Store(int64(b.N))
	last.Store(-1)
	b.ResetTimer()
	begin := time.Now()
	for w := range contendedWorkers {
		wg.Go(func() {
			for remaining.Add(-1) >= 0 {
				h, err := lock(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				if last.Swap(int64(w)) != int64(w) {
					handoffs.Add(1)
				}
				grants[w].Add(1)
				time.Sleep(contendedHold)
				_ = h.Release(context.Background())
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	lo, hi := grants[0].Load(), grants[0].Load()
	for i := range grants {
		lo, hi = min(lo, grants[i].Load()), max(hi, grants[i].Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "grants/s")
	b.ReportMetric(float64(handoffs.Load())/elapsed.Seconds(), "handoffs/s")
	if hi > 0 {
		b.ReportMetric(float64(lo)/float64(hi), "fairness")
	}
}
