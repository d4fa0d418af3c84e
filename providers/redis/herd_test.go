package redis_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// herdSend is one of many Sends on one hot key, each holding the lock 1ms.
type herdSend struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"timeout=60s"`
	Seq                     int
}

func (herdSend) LockKey() string { return "hot" }

// herdKey is herdSend's lock key as the providers see it.
const herdKey = "herdSend:hot"

// herdSize is how many Sends the herd tests queue in one process: 300 in
// `make test`; REDIS_HERD=10000 (`make chaos`) runs the 10,000 (and
// 2 processes × 5,000).
func herdSize(t *testing.T) int {
	t.Helper()
	if v := os.Getenv("REDIS_HERD"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("REDIS_HERD=%q: want a positive count", v)
		}
		return n
	}
	return 300
}

// waiterCounter is what both providers tell about their queues.
type waiterCounter interface {
	locking.Provider
	Waiters(key string) int
}

// herd is a mediator whose herdSend handler records the order of service.
type herd struct {
	m      *mediator.Mediator
	p      waiterCounter
	mu     sync.Mutex
	served []int
}

func newHerd(t *testing.T, registration mediator.Option) *herd {
	t.Helper()
	hd := &herd{}
	hd.m = build(t,
		registration,
		locking.WithDistributedLocking[herdSend, mediator.Unit](),
		mediator.WithHandler[herdSend, mediator.Unit](func(ctx context.Context, s herdSend) (mediator.Unit, error) {
			hd.mu.Lock()
			hd.served = append(hd.served, s.Seq)
			hd.mu.Unlock()
			time.Sleep(time.Millisecond) // the handler's work: the lock is held 1ms
			return mediator.Unit{}, nil
		}),
	)
	if err := hd.m.Invoke(func(lp locking.Provider) { hd.p = lp.(waiterCounter) }); err != nil {
		t.Fatal(err)
	}
	return hd
}

// queue starts n Sends, one after the other: each is in the provider's queue
// for the key before the next starts, which makes their arrival order 0..n-1.
// The returned wait waits for them all.
func (hd *herd) queue(t *testing.T, ctx context.Context, n int) (wait func()) {
	t.Helper()
	var wg sync.WaitGroup
	base := hd.p.Waiters(herdKey)
	for i := range n {
		wg.Go(func() {
			if _, err := mediator.Send(ctx, hd.m, herdSend{Seq: i}); err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
		})
		deadline := time.Now().Add(time.Minute)
		for hd.p.Waiters(herdKey) != base+i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("Send %d never queued (%d waiters)", i, hd.p.Waiters(herdKey))
			}
			runtime.Gosched()
		}
	}
	return wg.Wait
}

// checkOrder fails unless the Sends were served 0..n-1.
func (hd *herd) checkOrder(t *testing.T, n int) {
	t.Helper()
	hd.mu.Lock()
	defer hd.mu.Unlock()
	if len(hd.served) != n {
		t.Fatalf("%d of %d Sends served", len(hd.served), n)
	}
	for i, s := range hd.served {
		if s != i {
			t.Fatalf("Send %d served in place %d: not in arrival order (%v...)", s, i, hd.served[max(0, i-3):min(len(hd.served), i+4)])
		}
	}
}

// scriptCalls returns how many Lua script calls (EVALSHA and EVAL) the
// server at addr ran since its statistics were reset.
func scriptCalls(t *testing.T, rdb *goredis.Client) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(info, "\n") {
		for _, cmd := range []string{"cmdstat_evalsha:", "cmdstat_eval:"} {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), cmd)
			if !ok {
				continue
			}
			calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
			n, err := strconv.Atoi(calls)
			if err != nil {
				t.Fatalf("commandstats line %q: %v", line, err)
			}
			total += n
		}
	}
	return total
}

// TestAHerdOnOneKeyIsServedInArrivalOrderWithFewScriptCalls: n Sends queued
// on one held key, 1ms each under the lock, with the default options: all
// are served, in arrival order, and Redis runs at most 3 scripts per grant —
// only the head of the queue talks to Redis (with per-waiter backoff timers,
// 9,000 such Sends once made 307,133 script calls and 113 grants).
func TestAHerdOnOneKeyIsServedInArrivalOrderWithFewScriptCalls(t *testing.T) {
	n := herdSize(t)
	t.Run("single node", func(t *testing.T) {
		noLeaks(t)
		srv := start(t)
		rdb := newClient(t, srv.Addr())
		hd := newHerd(t, redislocks.WithRedisDistributedLocking(srv.Addr()))
		runHerd(t, hd, n, rdb)
	})
	t.Run("redlock", func(t *testing.T) {
		rlNoLeaks(t)
		ns := startRedlockNodes(t, 3)
		hd := newHerd(t, redislocks.WithRedisDistributedLocking(redislocks.RedlockScheme+strings.Join(ns.addrs, ",")))
		runHerd(t, hd, n, ns.peek...)
	})
}

func runHerd(t *testing.T, hd *herd, n int, nodes ...*goredis.Client) {
	t.Helper()
	ctx := ctxT(t)
	holder, err := hd.p.TryAcquire(ctx, herdKey, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, rdb := range nodes {
		rdb.ConfigResetStat(ctx)
	}
	started := time.Now()
	wait := hd.queue(t, ctx, n)
	queued := time.Since(started)
	if err := holder.Release(ctx); err != nil {
		t.Fatal(err)
	}
	wait()
	served := time.Since(started) - queued
	hd.checkOrder(t, n)
	for i, rdb := range nodes {
		calls := scriptCalls(t, rdb)
		perGrant := float64(calls) / float64(n)
		t.Logf("node %d: %d Sends queued in %s, served in %s (%.0f/s); %d script calls, %.2f per grant",
			i, n, queued.Round(time.Millisecond), served.Round(time.Millisecond), float64(n)/served.Seconds(), calls, perGrant)
		if perGrant > 3 {
			t.Fatalf("node %d ran %d scripts for %d grants: %.2f per grant, want at most 3", i, calls, n, perGrant)
		}
	}
}

// TestAHerdFromTwoProcessesIsServedInArrivalOrderWithFewScriptCalls: the
// same with two processes of n/2 Sends each, queued while this process holds
// the lock: every Send served, each process's in its arrival order, and at
// most 3 scripts per grant in all.
func TestAHerdFromTwoProcessesIsServedInArrivalOrderWithFewScriptCalls(t *testing.T) {
	if redistest.ChildRole() == "herd" {
		herdChild(t)
		return
	}
	if redistest.ChildRole() != "" {
		return
	}
	n := herdSize(t) / 2
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	ctx := ctxT(t)
	p := newProvider(t, srv.Addr(), nil)
	holder, err := p.TryAcquire(ctx, herdKey, 0)
	if err != nil {
		t.Fatal(err)
	}
	rdb.ConfigResetStat(ctx)
	var children []*redistest.Child
	for range 2 {
		children = append(children, redistest.Spawn(t, "herd", "REDIS_ADDR="+srv.Addr(), "HERD_SENDS="+strconv.Itoa(n)))
	}
	for range children {
		if _, err := rdb.BLPop(ctx, 2*time.Minute, "test:herd-queued").Result(); err != nil {
			for _, c := range children {
				t.Logf("child %d:\n%s", c.Pid(), c.Output())
			}
			t.Fatalf("a child never queued its Sends: %v", err)
		}
	}
	if err := holder.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range children {
		if err := c.Wait(2 * time.Minute); err != nil {
			t.Fatalf("child %d: %v\n%s", c.Pid(), err, c.Output())
		}
	}
	calls := scriptCalls(t, rdb)
	perGrant := float64(calls) / float64(2*n)
	t.Logf("2 × %d Sends: %d script calls, %.2f per grant", n, calls, perGrant)
	if perGrant > 3 {
		t.Fatalf("%d scripts for %d grants: %.2f per grant, want at most 3", calls, 2*n, perGrant)
	}
}

// herdChild is a child's part: queue HERD_SENDS Sends, say so, and check
// that they were served in arrival order.
func herdChild(t *testing.T) {
	addr := os.Getenv("REDIS_ADDR")
	n, err := strconv.Atoi(os.Getenv("HERD_SENDS"))
	if err != nil {
		t.Fatal(err)
	}
	rdb := newClient(t, addr)
	ctx := ctxT(t)
	hd := newHerd(t, redislocks.WithRedisDistributedLocking(addr))
	wait := hd.queue(t, ctx, n)
	rdb.RPush(ctx, "test:herd-queued", fmt.Sprint(os.Getpid()))
	wait()
	hd.checkOrder(t, n)
}
