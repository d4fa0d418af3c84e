package redlock_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// Helpers copied from the single-node provider's tests (providers/redis), which
// the Redlock tests share.

type WithdrawCommand struct {
	mediator.Command[int64]
	locking.DistributedLock `lock:"prefix=account,timeout=5s"`
	AccountID               string
	Amount                  int64
}

func (c WithdrawCommand) LockKey() string { return c.AccountID }

func withdrawHandler(ctx context.Context, c WithdrawCommand) (int64, error) {
	lock, _ := locking.FromContext(ctx)
	// Write with lock.Token() as the fence: see docs/fencing.md.
	_ = lock.Token()
	return 0, nil
}

// newProxy runs a toxiproxy proxy in this process in front of upstream; the
// test adds toxics to it or stops it to cut every connection.
func newProxy(t *testing.T, upstream string) *toxiproxy.Proxy {
	t.Helper()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := toxiproxy.NewProxy(server, "redis", "127.0.0.1:0", upstream)
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	return proxy
}

// addToxic adds a toxic to proxy, taken out again at cleanup before the
// proxy stops: a toxic torn down with the proxy while data is in flight
// (a latency toxic holding a reply) can leave its goroutine stuck on a send
// nobody receives, which the leak checks would report.
func addToxic(t *testing.T, proxy *toxiproxy.Proxy, json string) {
	t.Helper()
	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(json)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Toxics.ResetToxics(context.Background()) })
}

// lossyClient is a client whose next script replies can be lost: the script
// runs on Redis, and the caller gets io.EOF instead of its answer, as when a
// connection is reset after the server ran the command.
type lossyClient struct {
	*goredis.Client
	lose atomic.Int32 // how many of the next successful script replies to lose
	// answered counts the script calls answered without an error (a
	// NOSCRIPT that go-redis follows with EVAL is not counted).
	answered atomic.Int32
}

func (c *lossyClient) loseNext(n int32) { c.lose.Store(n) }

func (c *lossyClient) filter(cmd *goredis.Cmd) *goredis.Cmd {
	if cmd.Err() == nil {
		c.answered.Add(1)
		for {
			n := c.lose.Load()
			if n <= 0 {
				break
			}
			if c.lose.CompareAndSwap(n, n-1) {
				cmd.SetErr(io.EOF)
				break
			}
		}
	}
	return cmd
}

func (c *lossyClient) Eval(ctx context.Context, script string, keys []string, args ...any) *goredis.Cmd {
	return c.filter(c.Client.Eval(ctx, script, keys, args...))
}

func (c *lossyClient) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *goredis.Cmd {
	return c.filter(c.Client.EvalSha(ctx, sha1, keys, args...))
}

// freeWithin polls until cond is false, and returns how long that took; it
// fails the test after bound.
func freeWithin(t *testing.T, what string, bound time.Duration, held func() bool) time.Duration {
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

// buildWith builds a mediator whose one locked command (tryWithdraw: one
// try) uses the provider opt registers.
func buildWith(opt mediator.Option) (*mediator.Mediator, error) {
	return mediator.New(opt,
		locking.WithDistributedLocking[tryWithdraw, uint64](),
		mediator.WithHandler[tryWithdraw, uint64](func(context.Context, tryWithdraw) (uint64, error) { return 1, nil }),
	)
}

// cachedScripts returns how many scripts the server behind c has cached.
func cachedScripts(c *goredis.Client) int {
	info := c.Info(context.Background(), "memory").Val()
	_, rest, ok := strings.Cut(info, "number_of_cached_scripts:")
	if !ok {
		return -1
	}
	n, _ := strconv.Atoi(strings.TrimSpace(rest[:strings.IndexByte(rest, '\n')]))
	return n
}

// closedAnswer checks the one answer of a closed provider: no lock, and an
// error matching locking.ErrClosed (and ErrUnavailable) — never go-redis's
// raw "redis: client is closed".
func closedAnswer(t *testing.T, what string, h locking.Handle, err error) {
	t.Helper()
	if h != nil {
		_ = h.Release(context.Background())
		t.Fatalf("%s granted a lock after Close", what)
	}
	if !errors.Is(err, locking.ErrClosed) || !errors.Is(err, redislocks.ErrClosed) || !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("%s = %v; want locking.ErrClosed, redis.ErrClosed and ErrUnavailable", what, err)
	}
}

// frozenSlack is what a loaded machine may add to a bound: far below
// what an unbounded call would wait for (frozenNodeTimeout, on clients
// whose read timeout is longer still).
const frozenSlack = 5 * time.Second

// frozenNodeTimeout is the NodeTimeout of the frozen-majority test: an
// attempt that waited for the frozen nodes would take this long.
const frozenNodeTimeout = 15 * time.Second

// interleave runs ops one after another per benchmark op, rotating which
// goes first, so that all of them meet the same moment's load, and returns
// the median latency of each in µs.
func interleave(b *testing.B, ops []func()) []float64 {
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
	return med
}

// locker takes key for worker w and returns its release.
type locker func(ctx context.Context, w int) (release func(), err error)

func runContended(b *testing.B, rtt time.Duration, lock locker) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		remaining atomic.Int64
		last      atomic.Int64
		handoffs  atomic.Int64
		held      atomic.Int64 // total ns actually held
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
				time.Sleep(contendedHold)
				held.Add(int64(time.Since(t0)))
				release()
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
	n := float64(b.N)
	meanHold := time.Duration(held.Load() / int64(b.N))
	ideal := 1 / (meanHold + rtt).Seconds()
	b.ReportMetric(n/elapsed.Seconds(), "grants/s")
	b.ReportMetric(float64(handoffs.Load())/elapsed.Seconds(), "handoffs/s")
	b.ReportMetric(100*float64(handoffs.Load())/elapsed.Seconds()/ideal, "%ideal")
	b.ReportMetric(float64(meanHold.Nanoseconds())/1e3, "hold-µs")
	b.ReportMetric(float64(rtt.Nanoseconds())/1e3, "rtt-µs")
	if hi > 0 {
		b.ReportMetric(float64(lo)/float64(hi), "fairness")
	}
}

// medianRTT is the median PING round trip to addr through go-redis.
func medianRTT(b *testing.B, addr string) time.Duration {
	c := newClient(b, addr)
	ctx := context.Background()
	samples := make([]time.Duration, 0, 1000)
	for range cap(samples) {
		t0 := time.Now()
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(t0))
	}
	slices.Sort(samples)
	return samples[len(samples)/2]
}

// lockDistinctKeys takes and releases n distinct keys ("k<i>") on p from
// workers goroutines, each key once.
func lockDistinctKeys(t *testing.T, p locking.Provider, n, workers int) {
	t.Helper()
	// Not ctxT's minute: a million keys take about that long on a busy
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

// waitForDBSize waits, up to a generous bound, until every one of rdbs holds
// want keys; expiry is Redis's own background work.
func waitForDBSize(t *testing.T, want int64, rdbs ...*goredis.Client) {
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

func stopAll(srvs []*redistest.Server) {
	for _, s := range srvs {
		s.Stop()
	}
}

func restartAll(srvs []*redistest.Server) {
	for _, s := range srvs {
		s.Restart()
	}
}

// tryWithdraw is withdraw with one try and no wait.
type tryWithdraw struct {
	mediator.Command[uint64]
	locking.DistributedLock `lock:"prefix=withdraw,timeout=0"`
	Account                 string
}

func (w tryWithdraw) LockKey() string { return w.Account }

const (
	contendedWorkers = 8
	contendedHold    = time.Millisecond
)
