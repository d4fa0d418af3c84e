package redlock_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/bsm/redislock"
	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// startRedlockNodesWith is startRedlockNodes with redis-server arguments.
func startRedlockNodesWith(t testing.TB, n int, opts ...redistest.Option) *rlNodes {
	t.Helper()
	ns := &rlNodes{}
	for range n {
		s := redistest.Start(t, opts...)
		ns.srvs = append(ns.srvs, s)
		ns.addrs = append(ns.addrs, s.Addr())
		ns.peek = append(ns.peek, rlClient(t, s.Addr()))
	}
	return ns
}

// redlockOnClients returns a provider on the given clients, closed at
// cleanup.
func redlockOnClients(t testing.TB, clients []redlock.Client, opts *redlock.Options) *redlock.Provider {
	t.Helper()
	r, err := redlock.New(clients, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// held reports whether node i holds lockKey.
func (ns *rlNodes) held(i int, lockKey string) func() bool {
	return func() bool {
		n, err := ns.peek[i].Exists(context.Background(), lockKey).Result()
		return err != nil || n > 0
	}
}

// TestRedlockALostReplyGivesTheNodesGrantBack: node 0 granted but its reply
// was lost, and the attempt failed (node 2 is held by someone else). The
// grant node 0 kept is given back at once; with node 1 then down, the free
// key can still be taken on nodes 0 and 2.
func TestRedlockALostReplyGivesTheNodesGrantBack(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	lossy := &lossyClient{Client: rlClient(t, ns.addrs[0])}
	r := redlockOnClients(t, []redlock.Client{lossy, rlClient(t, ns.addrs[1]), rlClient(t, ns.addrs[2])}, nil)
	ctx := rlCtx(t)
	lock, _ := r.StorageKeys("k")
	ns.peek[2].Set(ctx, lock, "someone-else", time.Minute)

	lossy.loseNext(1)
	if _, err := r.TryAcquire(ctx, "k", 0); err == nil {
		t.Fatal("acquired without a majority")
	}
	d := redistesting.FreeWithin(t, "node 0's grant whose reply was lost", 5*time.Second, ns.held(0, lock))
	t.Logf("node 0's orphan grant given back in %s (lease 30s)", d)

	ns.peek[2].Del(ctx, lock)
	ns.srvs[1].Kill()
	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatalf("a free key with one node down: %v", err)
	}
	_ = h.Release(ctx)
}

// TestRedlockAFrozenNodesLateGrantIsGivenBack: node 0 is frozen when the
// attempt asks it, and grants when it thaws, after the attempt failed: that
// late grant is given back instead of blocking node 0 for the lease.
func TestRedlockAFrozenNodesLateGrantIsGivenBack(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, &redlock.Options{NodeTimeout: 250 * time.Millisecond})
	ctx := rlCtx(t)
	// A pooled connection to every node, and the scripts loaded there: the
	// frozen node's kernel queues the request on that connection, and the
	// node runs it when it thaws.
	warm, err := r.TryAcquire(ctx, "warm-up", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.Release(ctx); err != nil {
		t.Fatal(err)
	}
	evalsBefore := evalCalls(t, ns.peek[0])
	lock, _ := r.StorageKeys("k")
	ns.peek[2].Set(ctx, lock, "someone-else", time.Minute)
	ns.srvs[0].Pause()
	if _, err := r.TryAcquire(ctx, "k", 0); err == nil {
		t.Fatal("acquired without a majority")
	}
	ns.srvs[0].Resume()
	d := redistesting.FreeWithin(t, "the frozen node's late grant", 10*time.Second, ns.held(0, lock))
	t.Logf("the late grant given back %s after the node thawed (lease 30s)", d)
	// The node did run the late acquire, and then the give-back.
	waitFor(t, "the late acquire and its give-back on node 0", func() bool { return evalCalls(t, ns.peek[0]) >= evalsBefore+2 })

	ns.peek[2].Del(ctx, lock)
	ns.srvs[1].Kill()
	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatalf("a free key with one node down: %v", err)
	}
	_ = h.Release(ctx)
}

// TestRedlockTooFewAnswersIsUnavailableEvenWhenANodeRefused: node 2 refuses
// (someone else holds the key there), node 0 is down and node 1 frozen. A
// majority is out of reach because two nodes failed, which is an outage,
// not contention, whichever answer comes first.
func TestRedlockTooFewAnswersIsUnavailableEvenWhenANodeRefused(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, &redlock.Options{NodeTimeout: 300 * time.Millisecond})
	ctx := rlCtx(t)
	lock, _ := r.StorageKeys("k")
	ns.peek[2].Set(ctx, lock, "someone-else", time.Minute)
	ns.srvs[0].Kill()
	ns.srvs[1].Pause()
	defer ns.srvs[1].Resume()
	for i := range 3 {
		_, err := r.TryAcquire(ctx, "k", 0)
		if !errors.Is(err, locking.ErrUnavailable) || errors.Is(err, locking.ErrNotAcquired) {
			t.Fatalf("try %d: %v, want ErrUnavailable", i, err)
		}
	}
}

// TestRedlockLocksHeldWhenNodesCrashedAreFreeSoonAfterTheyAreBack: two of
// three nodes (with append-only files) are killed while locks are held;
// their Releases fail there. When the nodes are back with the keys, the
// releases retried in the background free them well before the 30s leases
// run out (how soon is TestRedlockMeasureReleaseRecovery's figure, under
// make chaos: within 1s), and the retries, which waited for the nodes
// outside the clients' pools, left those pools dialling: before, 20 refused
// retries opened go-redis's dial breaker, which probes once a second.
func TestRedlockLocksHeldWhenNodesCrashedAreFreeSoonAfterTheyAreBack(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodesWith(t, 3, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	clients := make([]redlock.Client, len(ns.addrs))
	for i, a := range ns.addrs {
		// rlClient's settings, with the pool size (the number of failed
		// dials that opens go-redis's breaker) fixed above the 5 Releases'
		// own failures on any GOMAXPROCS.
		c := goredis.NewClient(&goredis.Options{
			Addr: a, DialTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true,
			MaxRetries: 1, DialerRetries: 1, PoolSize: 20,
		})
		t.Cleanup(func() { _ = c.Close() })
		clients[i] = c
	}
	r := redlockOnClients(t, clients, nil)
	other := ns.redlock(t, nil)
	ctx := rlCtx(t)
	keys := []string{"a", "b", "c", "d", "e"}
	d := redlockCrashAndRecover(t, ns, r, keys, func() {
		for i := range 2 {
			if err := clients[i].Ping(ctx).Err(); err != nil {
				t.Fatalf("node %d's client right after it was back: %v", i, err)
			}
		}
	})
	t.Logf("the keys free on every node %s after they were back (lease 30s)", d)
	for _, k := range keys {
		h2, err := other.TryAcquire(ctx, k, 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = h2.Release(ctx)
	}
}

// redlockCrashAndRecover takes keys on r, kills nodes 0 and 1 of ns (which
// must keep append-only files) and releases them, restarts the nodes after
// a second of outage, calls back (if not nil), and returns how long after
// the nodes answered again every key was free on them. It fails the test if
// a key is still held 15s after, half the 30s lease.
func redlockCrashAndRecover(t *testing.T, ns *rlNodes, r *redlock.Provider, keys []string, back func()) time.Duration {
	t.Helper()
	ctx := rlCtx(t)
	var held []locking.Handle
	for _, k := range keys {
		h, err := acquireOnceAvailable(ctx, r, k)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, h)
	}
	ns.srvs[0].Kill()
	ns.srvs[1].Kill()
	for _, h := range held {
		if err := h.Release(ctx); !errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("Release with two nodes down = %v, want ErrUnavailable", err)
		}
	}
	// The outage lasts a while (its length, not a synchronization): the
	// retries meet refused dials meanwhile.
	time.Sleep(time.Second)
	ns.srvs[0].Restart()
	ns.srvs[1].Restart() // each returns once its node answers PING
	begin := time.Now()
	if back != nil {
		back()
	}
	for _, k := range keys {
		lock, _ := r.StorageKeys(k)
		redistesting.FreeWithin(t, "node 0's key", 15*time.Second, ns.held(0, lock))
		redistesting.FreeWithin(t, "node 1's key", 15*time.Second, ns.held(1, lock))
	}
	return time.Since(begin)
}

// acquireOnceAvailable tries key until the provider's clients reach a
// majority (after an earlier outage, a go-redis pool that has seen PoolSize
// failed dials dials again only after its once-a-second probe), for up to
// 10s.
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

// TestRedlockAReleaseAppliedButUnansweredWakesTheLocalWaiter: every node
// deleted the key but every reply was lost; the provider's waiter, without
// fallback retries, is still woken.
func TestRedlockAReleaseAppliedButUnansweredWakesTheLocalWaiter(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	lossy := make([]*lossyClient, 3)
	clients := make([]redlock.Client, 3)
	for i, a := range ns.addrs {
		lossy[i] = &lossyClient{Client: rlClient(t, a)}
		clients[i] = lossy[i]
	}
	r := redlockOnClients(t, clients, &redlock.Options{RetryStrategy: func() redislock.RetryStrategy { return redislock.NoRetry() }})
	ctx := rlCtx(t)
	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	before := make([]int32, len(lossy))
	for i, c := range lossy {
		before[i] = c.answered.Load()
	}
	got := make(chan error, 1)
	go func() {
		w, err := r.TryAcquire(ctx, "k", 20*time.Second)
		if err == nil {
			err = w.Release(ctx)
		}
		got <- err
	}()
	waitFor(t, "the waiter in the queue", func() bool { return r.Waiters("k") == 1 })
	// The waiter asked every node twice (its first try, and once more when
	// its subscriptions were confirmed); only then may replies be lost, or
	// the loss would hit the waiter's refusal instead of the release.
	waitFor(t, "the waiter's two tries", func() bool {
		for i, c := range lossy {
			if c.answered.Load() < before[i]+2 {
				return false
			}
		}
		return true
	})
	for _, c := range lossy {
		c.loseNext(1)
	}
	if err := h.Release(ctx); err == nil {
		t.Fatal("Release with every reply lost succeeded")
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

var _ redlock.Client = (*lossyClient)(nil)

// evalCalls returns how many EVALSHA calls the server behind c ran.
func evalCalls(t testing.TB, c *goredis.Client) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		return -1
	}
	_, rest, ok := strings.Cut(info, "cmdstat_evalsha:calls=")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	return n
}

// TestRedlockAnEvictingNodeFailsBuildNamingIt: one node of three may evict
// lock keys; Build says which, unless the user opted in.
func TestRedlockAnEvictingNodeFailsBuildNamingIt(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	ctx := rlCtx(t)
	if err := ns.peek[1].ConfigSet(ctx, "maxmemory-policy", "volatile-lru").Err(); err != nil {
		t.Fatal(err)
	}
	addr := "redlock://" + strings.Join(ns.addrs, ",")
	m, err := buildWith(redislocks.WithRedisDistributedLocking(addr))
	if err == nil {
		_ = m.Close(ctx)
	}
	var pe *redlock.EvictionPolicyError
	if !errors.As(err, &pe) || pe.Node != 1 || pe.Policy != "volatile-lru" || !strings.Contains(err.Error(), "node 1") {
		t.Fatalf("Build with node 1 on volatile-lru = %v, want an *EvictionPolicyError naming node 1", err)
	}
	m, err = buildWith(redislocks.WithRedisDistributedLocking(addr, func(o *redlock.Options) { o.AllowKeyEviction = true }))
	if err != nil {
		t.Fatalf("Build with AllowKeyEviction: %v", err)
	}
	_ = m.Close(ctx)
}

// TestRedlockTheFirstExtensionIsScheduledFromTheSend is the single-node
// test's twin: behind 1.2s of reply latency on every node, TTL 6s and
// refresh 4s, the lock stays held past the first lease.
func TestRedlockTheFirstExtensionIsScheduledFromTheSend(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	// Behind 1.5s of reply latency, TTL 10s, refresh 7s: scheduled from the
	// send, the first extension is answered at 8.5s, before the lease less
	// the drift allowance ends at 9.9s; scheduled from the reply (1.5s, or
	// 3s with the fencing counters' raise) it would be sent at 8.5s or
	// later and answered after the lease's end.
	opts := &redlock.Options{TTL: 10 * time.Second, RefreshInterval: 7 * time.Second}
	clients := make([]redlock.Client, 3)
	var proxies []*toxiproxy.Proxy
	for i, a := range ns.addrs {
		proxy := redistesting.NewProxy(t, a)
		proxies = append(proxies, proxy)
		clients[i] = rlClient(t, proxy.Listen)
	}
	// NodeTimeout must let a 1.5s round trip through.
	opts.NodeTimeout = 2500 * time.Millisecond
	r := redlockOnClients(t, clients, opts)
	ctx := rlCtx(t)
	// Before the latency: every script loaded on every node (a lock held
	// through an extension), and r's connections open.
	fast := ns.redlock(t, &redlock.Options{TTL: 3 * time.Second, RefreshInterval: 100 * time.Millisecond, NodeTimeout: time.Second})
	hf, err := fast.TryAcquire(ctx, "warm-up", 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the scripts cached on every node", func() bool {
		for _, c := range ns.peek {
			if redistesting.CachedScripts(c) < 2 {
				return false
			}
		}
		return true
	})
	_ = hf.Release(ctx)
	// r's own locks open its connections, and load the script that raises
	// lower fencing counters (the nodes' counters differ: a grant's token
	// comes from each node's clock) on every node.
	warmUps := 0
	waitFor(t, "every script cached on every node", func() bool {
		// A fresh key each time: its first grant draws each node's clock,
		// so the counters differ and the lower ones are raised.
		warmUps++
		warm, err := r.TryAcquire(ctx, "warm-up-"+strconv.Itoa(warmUps), 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := warm.Release(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range ns.peek {
			cached, err := c.ScriptExists(ctx, redlock.ScriptHashes...).Result()
			if err != nil || slices.Contains(cached, false) {
				return false
			}
		}
		return true
	})
	for _, p := range proxies {
		redistesting.AddToxic(t, p, `{"name":"slow","type":"latency","stream":"downstream","attributes":{"latency":1500}}`)
	}
	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Lost():
		t.Fatal("reported lost while the nodes held it")
	case <-time.After(11 * time.Second):
	}
	for _, p := range proxies {
		p.Toxics.ResetToxics(ctx)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
