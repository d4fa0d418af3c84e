package redis_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsm/redislock"
	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
)

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

func newLossyClient(t testing.TB, addr string) *lossyClient {
	t.Helper()
	return &lossyClient{Client: newClient(t, addr)}
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

// exists reports whether key is in Redis.
func exists(rdb *goredis.Client, key string) func() bool {
	return func() bool {
		n, err := rdb.Exists(context.Background(), key).Result()
		return err != nil || n > 0
	}
}

// TestALostAcquireReplyGivesTheGrantBackAtOnce: the acquire script ran and
// granted the lock, but its reply was lost (a reset connection). The caller
// sees ErrUnavailable, and the grant it never saw is given back at once
// instead of blocking the key for the 30s lease.
func TestALostAcquireReplyGivesTheGrantBackAtOnce(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	lossy := newLossyClient(t, srv.Addr())
	p, err := redislocks.New(lossy, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	other := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)

	lossy.loseNext(1)
	_, err = p.TryAcquire(ctx, "k", 0)
	if !errors.Is(err, locking.ErrUnavailable) || !errors.Is(err, io.EOF) {
		t.Fatalf("TryAcquire with its reply lost = %v, want ErrUnavailable wrapping EOF", err)
	}
	lock, _ := p.StorageKeys("k")
	d := redistesting.FreeWithin(t, "the grant whose reply was lost", 5*time.Second, exists(rdb, lock))
	t.Logf("orphan grant given back in %s (lease 30s)", d)
	h, err := other.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatalf("after the give-back: %v", err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAReleaseAppliedButUnansweredWakesTheLocalWaiter: Redis deleted the
// key but the release's reply was lost. The provider's waiter, without
// fallback retries, must not sleep on a free lock until the lease's end.
func TestAReleaseAppliedButUnansweredWakesTheLocalWaiter(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	lossy := newLossyClient(t, srv.Addr())
	p, err := redislocks.New(lossy, &redislocks.Options{RetryStrategy: func() redislock.RetryStrategy { return redislock.NoRetry() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	ctx := ctxT(t)

	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	before := lossy.answered.Load()
	got := make(chan error, 1)
	go func() {
		w, err := p.TryAcquire(ctx, "k", 20*time.Second)
		if err == nil {
			err = w.Release(ctx)
		}
		got <- err
	}()
	waitFor(t, "the waiter's subscription", subscribed(t, rdb, p, "k"))
	waitFor(t, "the waiter in the queue", func() bool { return p.Waiters("k") == 1 })
	// The waiter tried twice, the second time once its subscription was
	// confirmed; only then may the next replies be lost.
	waitFor(t, "the waiter's two tries", func() bool { return lossy.answered.Load() >= before+2 })
	// One reply: the loss is injected after go-redis's own retries, so a
	// second would be the next call's, the waiter's or the give-back's.
	lossy.loseNext(1)
	if err := h.Release(ctx); !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("Release with its reply lost = %v, want ErrUnavailable", err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the waiter: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter slept on a free lock (the lease is 30s)")
	}
}

// dialCountingClient is a go-redis client that counts the dials of its
// dialer (its pool's and anyone else's who dials with it) and the script
// calls made through it.
type dialCountingClient struct {
	*goredis.Client
	dials   atomic.Int32
	scripts atomic.Int32
}

func newDialCountingClient(t testing.TB, addr string) *dialCountingClient {
	t.Helper()
	c := &dialCountingClient{}
	var d net.Dialer
	c.Client = goredis.NewClient(&goredis.Options{
		Addr:                  addr,
		DialTimeout:           time.Second,
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
		DialerRetries:         1,
		// The breaker opens after PoolSize failed dials: fixed, so that the
		// 5 Releases' own failures stay below it on any GOMAXPROCS.
		PoolSize: 20,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	})
	t.Cleanup(func() { _ = c.Client.Close() })
	return c
}

func (c *dialCountingClient) Eval(ctx context.Context, script string, keys []string, args ...any) *goredis.Cmd {
	c.scripts.Add(1)
	return c.Client.Eval(ctx, script, keys, args...)
}

func (c *dialCountingClient) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *goredis.Cmd {
	c.scripts.Add(1)
	return c.Client.EvalSha(ctx, sha1, keys, args...)
}

// TestReleasesRetriedWhileRedisIsDownDoNotGoThroughTheClient: the releases
// that failed because Redis is down wait for it to accept connections again
// (a probe dials it outside the client's pool) instead of calling it again
// and again: a go-redis pool that has seen PoolSize failed dials stops
// dialling and probes the server only once a second, which kept keys
// blocked up to a second and more after Redis was back. Once it is back,
// the provider's client answers at once and the keys are freed.
func TestReleasesRetriedWhileRedisIsDownDoNotGoThroughTheClient(t *testing.T) {
	noLeaks(t)
	srv := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	rdb := newClient(t, srv.Addr())
	client := newDialCountingClient(t, srv.Addr())
	p, err := redislocks.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	ctx := ctxT(t)
	keys := []string{"a", "b", "c", "d", "e"}
	var held []locking.Handle
	for _, k := range keys {
		h, err := p.TryAcquire(ctx, k, 0)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, h)
	}
	srv.Kill()
	for _, h := range held {
		if err := h.Release(ctx); !errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("Release with Redis down = %v, want ErrUnavailable", err)
		}
	}
	// The outage: the server refuses 40 more dials (the probe's), or the
	// retries call the client (as they did before: 20 refused dials of
	// theirs stopped the pool dialling).
	scripts, dials := client.scripts.Load(), client.dials.Load()
	waitFor(t, "40 refused dials or a script call", func() bool {
		return client.dials.Load() >= dials+40 || client.scripts.Load() > scripts
	})
	if n := client.scripts.Load() - scripts; n > 0 {
		t.Fatalf("%d script calls through the client while Redis refused connections, want none", n)
	}
	srv.Restart() // returns once it answers PING, with the keys from its AOF
	back := time.Now()
	// The provider's retries left the client's pool free to dial.
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("the provider's client right after Redis was back: %v", err)
	}
	for _, k := range keys {
		lock, _ := p.StorageKeys(k)
		redistesting.FreeWithin(t, "a key released during the outage", 15*time.Second, exists(rdb, lock))
	}
	t.Logf("every key free %s after Redis answered again (lease 30s)", time.Since(back))
}

// TestLocksHeldWhenRedisCrashedAreFreeSoonAfterItIsBack: Redis (with an
// append-only file) is killed while locks are held; their Releases fail.
// When it is back with the keys, the releases retried in the background
// free them well before the 30s leases run out (the time it takes is
// measured by TestMeasureReleaseRecovery, under make chaos: within 1s).
func TestLocksHeldWhenRedisCrashedAreFreeSoonAfterItIsBack(t *testing.T) {
	noLeaks(t)
	srv := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	rdb := newClient(t, srv.Addr())
	p := newProvider(t, srv.Addr(), nil)
	d := crashAndRecover(t, srv, rdb, p, []string{"a", "b", "c", "d", "e"})
	t.Logf("every key free %s after Redis answered again (lease 30s)", d)
}

// crashAndRecover takes keys on p, kills srv (which must keep an
// append-only file) and releases them, restarts it after a second of
// outage, and returns how long after it answered again every key was free
// on it (seen through rdb). It fails the test if a key is still held 15s
// after, half the 30s lease.
func crashAndRecover(t *testing.T, srv *redistest.Server, rdb *goredis.Client, p *redislocks.Provider, keys []string) time.Duration {
	t.Helper()
	ctx := ctxT(t)
	var held []locking.Handle
	for _, k := range keys {
		h, err := acquireOnceAvailable(ctx, p, k)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, h)
	}
	srv.Kill()
	for _, h := range held {
		if err := h.Release(ctx); !errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("Release with Redis down = %v, want ErrUnavailable", err)
		}
	}
	// The outage lasts a while (its length, not a synchronization): the
	// retries meet refused dials meanwhile.
	time.Sleep(time.Second)
	srv.Restart() // returns once it answers PING, with the keys from its AOF
	back := time.Now()
	for _, k := range keys {
		lock, _ := p.StorageKeys(k)
		redistesting.FreeWithin(t, "a key released during the outage", 15*time.Second, exists(rdb, lock))
	}
	return time.Since(back)
}

// acquireOnceAvailable tries key until the provider's client reaches Redis
// (after an earlier outage, a go-redis pool that has seen PoolSize failed
// dials dials again only after its once-a-second probe), for up to 10s.
func acquireOnceAvailable(ctx context.Context, p locking.Provider, key string) (locking.Handle, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := p.TryAcquire(ctx, key, 0)
		if !errors.Is(err, locking.ErrUnavailable) || time.Now().After(deadline) {
			return h, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRefreshIntervalWithoutMarginFailsBuild: an extension needs time to
// reach Redis before the lease ends; a RefreshInterval that leaves none is
// refused by New and by the registrations, as Redlock's options are.
func TestRefreshIntervalWithoutMarginFailsBuild(t *testing.T) {
	bad := &redislocks.Options{TTL: time.Second, RefreshInterval: 995 * time.Millisecond}
	if _, err := redislocks.New(newClient(t, "127.0.0.1:1"), bad); !errors.Is(err, redislocks.ErrInvalidOptions) || !strings.Contains(err.Error(), "RefreshInterval") {
		t.Fatalf("New with TTL 1s, refresh 995ms = %v, want ErrInvalidOptions naming RefreshInterval", err)
	}
	if _, err := redislocks.New(newClient(t, "127.0.0.1:1"), &redislocks.Options{TTL: time.Second, RefreshInterval: 800 * time.Millisecond}); err != nil {
		t.Fatalf("New with TTL 1s, refresh 800ms: %v", err)
	}
	_, err := buildWith(redislocks.WithRedisDistributedLocking("127.0.0.1:1", func(o *redislocks.Options) {
		o.TTL, o.RefreshInterval = time.Second, 995*time.Millisecond
	}))
	if !errors.Is(err, redislocks.ErrInvalidOptions) {
		t.Fatalf("Build with TTL 1s, refresh 995ms = %v, want ErrInvalidOptions", err)
	}
}

// TestTheFirstExtensionIsScheduledFromTheSend: the lease counts from the
// moment the acquire was sent, so the first extension must too. Behind
// 1.2s of reply latency, a TTL of 6s and a refresh of 4s, an extension sent
// 4s after the acquire is answered at 5.2s, before the lease (less the drift
// allowance) ends at 5.94s; one scheduled from the reply would be sent at
// 5.2s, answered at 6.4s, and the lock reported lost although Redis held it.
func TestTheFirstExtensionIsScheduledFromTheSend(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	proxy := redistesting.NewProxy(t, srv.Addr())
	p := newProvider(t, proxy.Listen, &redislocks.Options{TTL: 6 * time.Second, RefreshInterval: 4 * time.Second})
	ctx := ctxT(t)
	// Before the latency, a lock held through an extension loads the
	// scripts (acquire, extend, release), and one of p opens its
	// connection: each call under test is then one round trip.
	fast := newProvider(t, srv.Addr(), &redislocks.Options{TTL: 3 * time.Second, RefreshInterval: 100 * time.Millisecond})
	hf, err := fast.TryAcquire(ctx, "warm-up", 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the acquire and extend scripts cached", func() bool { return redistesting.CachedScripts(rdb) >= 2 })
	_ = hf.Release(ctx)
	warm, err := p.TryAcquire(ctx, "warm-up", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.Release(ctx); err != nil {
		t.Fatal(err)
	}
	redistesting.AddToxic(t, proxy, `{"name":"slow","type":"latency","stream":"downstream","attributes":{"latency":1200}}`)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Past the first extension's answer and the first lease's end.
	select {
	case <-h.Lost():
		lock, _ := p.StorageKeys("k")
		t.Fatalf("reported lost while Redis held it (PTTL %s)", rdb.PTTL(ctx, lock).Val())
	case <-time.After(8 * time.Second):
	}
	proxy.Toxics.ResetToxics(ctx)
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAnEvictingServerFailsBuildUnlessAllowed: under a maxmemory-policy that
// may evict keys with a TTL, a held lock or a fencing counter can vanish.
// Build says so and how to fix it, unless the user opted in.
func TestAnEvictingServerFailsBuildUnlessAllowed(t *testing.T) {
	noLeaks(t)
	srv := redistest.Start(t, redistest.WithArgs("--maxmemory-policy", "allkeys-lru"))
	m, err := buildWith(redislocks.WithRedisDistributedLocking(srv.Addr()))
	if err == nil {
		_ = m.Close(context.Background())
	}
	var pe *redislocks.EvictionPolicyError
	if !errors.Is(err, redislocks.ErrEvictionPolicy) || !errors.As(err, &pe) || pe.Policy != "allkeys-lru" {
		t.Fatalf("Build on allkeys-lru = %v, want an *EvictionPolicyError for allkeys-lru", err)
	}
	for _, want := range []string{"noeviction", "AllowKeyEviction"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	m, err = buildWith(redislocks.WithRedisDistributedLocking(srv.Addr(), func(o *redislocks.Options) { o.AllowKeyEviction = true }))
	if err != nil {
		t.Fatalf("Build with AllowKeyEviction: %v", err)
	}
	_ = m.Close(context.Background())

	// The form on the application's client is checked at Build too.
	if _, err := redislocks.New(newClient(t, srv.Addr()), nil); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, srv.Addr(), nil)
	if err := p.CheckEvictionPolicy(ctxT(t)); !errors.Is(err, redislocks.ErrEvictionPolicy) {
		t.Fatalf("CheckEvictionPolicy = %v, want ErrEvictionPolicy", err)
	}
}

// TestAServerThatStartsEvictingIsCaughtOnReconnect: the policy changes after
// Build; once the provider's client opens a new connection, the acquisition
// fails with the reason instead of taking a lock that may be evicted.
func TestAServerThatStartsEvictingIsCaughtOnReconnect(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	m, err := buildWith(redislocks.WithRedisDistributedLocking(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ctx := ctxT(t)
	if _, err := mediatorSendLocked(ctx, m); err != nil {
		t.Fatal(err)
	}
	rdb.ConfigSet(ctx, "maxmemory-policy", "volatile-ttl")
	rdb.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes")
	_, err = mediatorSendLocked(ctx, m)
	if !errors.Is(err, redislocks.ErrEvictionPolicy) || !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("Send after the server started evicting = %v, want ErrUnavailable with ErrEvictionPolicy", err)
	}
}

// TestAServerRefusingConfigGetIsAcceptedWithAWarning: managed Redis often
// refuses CONFIG; the policy cannot be checked, which is logged.
func TestAServerRefusingConfigGetIsAcceptedWithAWarning(t *testing.T) {
	noLeaks(t)
	srv := redistest.Start(t, redistest.WithArgs("--rename-command", "CONFIG", ""))
	var logged syncBuffer
	logger := newTextLogger(&logged)
	m, err := buildWith(redislocks.WithRedisDistributedLocking(srv.Addr(), func(o *redislocks.Options) { o.Logger = logger }))
	if err != nil {
		t.Fatalf("Build on a server refusing CONFIG: %v", err)
	}
	defer m.Close(context.Background())
	if _, err := mediatorSendLocked(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	if out := logged.String(); strings.Count(out, "level=WARN") != 1 || !strings.Contains(out, "maxmemory-policy") {
		t.Fatalf("want one warning about the unchecked policy, logged:\n%s", out)
	}
}

// buildWith builds a mediator whose one locked command (tryWithdraw: one
// try) uses the provider opt registers.
func buildWith(opt mediator.Option) (*mediator.Mediator, error) {
	return mediator.New(opt,
		locking.WithDistributedLocking[tryWithdraw, uint64](),
		mediator.WithHandler[tryWithdraw, uint64](func(context.Context, tryWithdraw) (uint64, error) { return 1, nil }),
	)
}

func mediatorSendLocked(ctx context.Context, m *mediator.Mediator) (uint64, error) {
	return mediator.Send(ctx, m, tryWithdraw{Account: "a"})
}

// syncBuffer is a strings.Builder safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
