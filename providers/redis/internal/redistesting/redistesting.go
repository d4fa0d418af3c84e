// Package redistesting holds the test helpers the Redis and Redlock
// providers' tests share: an in-process toxiproxy, polling bounds, the
// interleaved and contended benchmark drivers, and the bounded-state checks.
// It is for this module's tests only.
package redistesting

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// ContendedWorkers and ContendedHold shape RunContended: 8 workers on one
// key, each holding the lock 1 ms per grant.
const (
	ContendedWorkers = 8
	ContendedHold    = time.Millisecond
)

// NewProxy runs a toxiproxy proxy in this process in front of upstream; the
// test adds toxics to it or stops it to cut every connection.
func NewProxy(t *testing.T, upstream string) *toxiproxy.Proxy {
	t.Helper()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := toxiproxy.NewProxy(server, "redis", "127.0.0.1:0", upstream)
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	return proxy
}

// AddToxic adds a toxic to proxy, taken out again at cleanup before the
// proxy stops: a toxic torn down with the proxy while data is in flight
// (a latency toxic holding a reply) can leave its goroutine stuck on a send
// nobody receives, which the leak checks would report.
func AddToxic(t *testing.T, proxy *toxiproxy.Proxy, json string) {
	t.Helper()
	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(json)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Toxics.ResetToxics(context.Background()) })
}

// FreeWithin polls until cond is false, and returns how long that took; it
// fails the test after bound.
func FreeWithin(t *testing.T, what string, bound time.Duration, held func() bool) time.Duration {
	t.Helper()
	begin := time.Now()
	for held() {
		if time.Since(begin) > bound {
			t.Fatalf("%s still held after %s", what, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(begin)
}

// CachedScripts returns how many scripts the server behind c has cached.
func CachedScripts(c *goredis.Client) int {
	info := c.Info(context.Background(), "memory").Val()
	_, rest, ok := strings.Cut(info, "number_of_cached_scripts:")
	if !ok {
		return -1
	}
	n, _ := strconv.Atoi(strings.TrimSpace(rest[:strings.IndexByte(rest, '\n')]))
	return n
}

// Interleave runs ops one after another per benchmark op, rotating which
// goes first, so that all of them meet the same moment's load, and returns
// the median latency of each in µs.
func Interleave(b *testing.B, ops []func()) []float64 {
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
		med[k] = float64(median(samples[k]).Nanoseconds()) / 1e3
	}
	return med
}

// median is the middle value of s (the upper one of an even count); s is
// left as it was.
func median[T cmp.Ordered](s []T) T {
	s = slices.Clone(s)
	slices.Sort(s)
	return s[len(s)/2]
}

// Locker takes key for worker w and returns its release.
type Locker func(ctx context.Context, w int) (release func(), err error)

// RTT is a server's round trip, measured two ways: Busy is the median of
// back-to-back PINGs; Idle the median of PINGs each sent after 1 ms without
// traffic. A handoff in [RunContended] is sent as a 1 ms hold ends, so it
// pays the idle one: on a virtual machine the idle server's and client's
// vCPUs take tens of µs to wake (here ~100 µs idle against ~25 µs busy).
type RTT struct{ Busy, Idle time.Duration }

// MeasureRTT measures ping's round trip both ways (see [RTT]).
func MeasureRTT(b *testing.B, ping func() error) RTT {
	b.Helper()
	sample := func(n int, pause time.Duration) time.Duration {
		samples := make([]time.Duration, 0, n)
		for range n {
			if pause > 0 {
				time.Sleep(pause)
			}
			t0 := time.Now()
			if err := ping(); err != nil {
				b.Fatal(err)
			}
			samples = append(samples, time.Since(t0))
		}
		return median(samples)
	}
	return RTT{Busy: sample(1000, 0), Idle: sample(300, time.Millisecond)}
}

// RunContended has ContendedWorkers workers take lock in turn, each holding
// it ContendedHold per grant, for b.N grants, and reports grants/s,
// handoffs/s, the share of the ideal 1/(hold + RTT) with the busy RTT
// (%ideal) and with the idle one (%ideal-idle), the mean hold, both RTTs
// and fairness (fewest grants of a worker over most).
func RunContended(b *testing.B, rtt RTT, lock Locker) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b.ResetTimer()
	r := contend(ctx, b, b.N, lock)
	b.StopTimer()
	ReportContended(b, r.handoffs, r.elapsed, time.Duration(int64(r.held)/int64(b.N)), rtt, r.lo, r.hi)
}

// round is what one contended run of [contend] measured.
type round struct {
	handoffs int64
	elapsed  time.Duration
	held     time.Duration // summed over the grants
	lo, hi   int64         // fewest and most grants of a worker
}

// contend has ContendedWorkers workers take lock in turn, each holding it
// ContendedHold per grant, for n grants.
func contend(ctx context.Context, b *testing.B, n int, lock Locker) round {
	var (
		remaining atomic.Int64
		last      atomic.Int64
		handoffs  atomic.Int64
		held      atomic.Int64 // total ns actually held
		grants    [ContendedWorkers]atomic.Int64
		wg        sync.WaitGroup
	)
	remaining.Store(int64(n))
	last.Store(-1)
	begin := time.Now()
	for w := range ContendedWorkers {
		wg.Go(func() {
			for remaining.Add(-1) >= 0 {
				release, err := lock(ctx, w)
				if err != nil {
					b.Error(err)
					return
				}
				if last.Swap(int64(w)) != int64(w) {
					handoffs.Add(1)
				}
				grants[w].Add(1)
				t0 := time.Now()
				time.Sleep(ContendedHold)
				held.Add(int64(time.Since(t0)))
				release()
			}
		})
	}
	wg.Wait()
	r := round{handoffs: handoffs.Load(), elapsed: time.Since(begin), held: time.Duration(held.Load())}
	r.lo, r.hi = grants[0].Load(), grants[0].Load()
	for i := range grants {
		r.lo, r.hi = min(r.lo, grants[i].Load()), max(r.hi, grants[i].Load())
	}
	return r
}

// HoldThenPingGrants is how many grants each round of
// [RunContendedAgainstHoldThenPing] hands out, and how many holds and pings
// its ideal loop does.
const HoldThenPingGrants = 400

// RunContendedAgainstHoldThenPing measures the ideal 1/(hold + RTT) itself
// rather than computing it: one goroutine that sleeps ContendedHold and then
// sends one ping, HoldThenPingGrants times, does exactly one hold and one
// round trip per grant, each round trip sent after a hold as a handoff is.
// Each benchmark op runs that loop and a contended round of lock (as
// [RunContended]) of as many grants, in alternating order, so that both meet
// the same moment's load. It reports the median over the ops of the
// contended handoffs/s as a share of the loop's iterations/s
// (%hold-then-ping), the lowest and median fairness, and both rates'
// medians.
func RunContendedAgainstHoldThenPing(b *testing.B, lock Locker, ping func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var shares, fairness, contended, ideal []float64
	i := 0
	for b.Loop() {
		var r round
		var loop time.Duration
		runLoop := func() {
			begin := time.Now()
			for range HoldThenPingGrants {
				time.Sleep(ContendedHold)
				if err := ping(ctx); err != nil {
					b.Fatal(err)
				}
			}
			loop = time.Since(begin)
		}
		if i%2 == 0 {
			runLoop()
			r = contend(ctx, b, HoldThenPingGrants, lock)
		} else {
			r = contend(ctx, b, HoldThenPingGrants, lock)
			runLoop()
		}
		i++
		perSecond := float64(r.handoffs) / r.elapsed.Seconds()
		idealPerSecond := HoldThenPingGrants / loop.Seconds()
		shares = append(shares, 100*perSecond/idealPerSecond)
		fairness = append(fairness, float64(r.lo)/float64(max(r.hi, 1)))
		contended = append(contended, perSecond)
		ideal = append(ideal, idealPerSecond)
	}
	b.ReportMetric(median(shares), "%hold-then-ping")
	b.ReportMetric(slices.Min(shares), "%hold-then-ping-min")
	b.ReportMetric(median(fairness), "fairness")
	b.ReportMetric(slices.Min(fairness), "fairness-min")
	b.ReportMetric(median(contended), "handoffs/s")
	b.ReportMetric(median(ideal), "hold-then-ping/s")
}

// ReportContended reports the figures of a contended run of b.N grants:
// grants/s, handoffs/s, the share of the ideal 1/(hold + RTT) with the busy
// RTT (%ideal) and the idle one (%ideal-idle), the mean hold, both RTTs and
// the fairness lo/hi (fewest grants of a worker over most).
func ReportContended(b *testing.B, handoffs int64, elapsed, meanHold time.Duration, rtt RTT, lo, hi int64) {
	perSecond := float64(handoffs) / elapsed.Seconds()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "grants/s")
	b.ReportMetric(perSecond, "handoffs/s")
	b.ReportMetric(100*perSecond*(meanHold+rtt.Busy).Seconds(), "%ideal")
	b.ReportMetric(100*perSecond*(meanHold+rtt.Idle).Seconds(), "%ideal-idle")
	b.ReportMetric(float64(meanHold.Nanoseconds())/1e3, "hold-µs")
	b.ReportMetric(float64(rtt.Busy.Nanoseconds())/1e3, "rtt-µs")
	b.ReportMetric(float64(rtt.Idle.Nanoseconds())/1e3, "rtt-idle-µs")
	if hi > 0 {
		b.ReportMetric(float64(lo)/float64(hi), "fairness")
	}
}

// LockDistinctKeys takes and releases n distinct keys ("k<i>") on p from
// workers goroutines, each key once.
func LockDistinctKeys(t *testing.T, p locking.Provider, n, workers int) {
	t.Helper()
	// Not a test's usual minute: a million keys take about that long on a busy
	// machine.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || t.Failed() {
					return
				}
				h, err := p.TryAcquire(ctx, "k"+strconv.FormatInt(i, 10), 10*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if err := h.Release(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// WaitForDBSize waits, up to a generous bound, until every one of rdbs holds
// want keys; expiry is Redis's own background work.
func WaitForDBSize(t *testing.T, want int64, rdbs ...*goredis.Client) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, rdb := range rdbs {
		for {
			n, err := rdb.DBSize(context.Background()).Result()
			if err == nil && n == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("DBSIZE = %d, %v a minute after the last lease and its retention ended; want %d", n, err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
