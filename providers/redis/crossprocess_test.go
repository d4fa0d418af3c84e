package redis_test

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

const (
	childProcesses  = 3
	childGoroutines = 8
	childIterations = 12
)

// TestProcessesExcludeEachOther runs this test binary as 3 processes × 8
// goroutines that read-modify-write one counter in Redis under one lock. If
// two ever held the lock together, an update would be lost (the counter
// would fall short), the SETNX "inside" marker would already be set, or a
// fencing token would not exceed the last one written.
func TestProcessesExcludeEachOther(t *testing.T) {
	if redistest.ChildRole() == "counter" {
		countUnderTheLock(t)
		return
	}
	if redistest.ChildRole() != "" {
		return
	}
	srv := start(t)
	var children []*redistest.Child
	for range childProcesses {
		children = append(children, redistest.Spawn(t, "counter", "REDIS_ADDR="+srv.Addr()))
	}
	for _, c := range children {
		if err := c.Wait(2 * time.Minute); err != nil {
			t.Fatalf("child %d: %v\n%s", c.Pid(), err, c.Output())
		}
	}
	rdb := newClient(t, srv.Addr())
	ctx := ctxT(t)
	want := childProcesses * childGoroutines * childIterations
	if got, _ := rdb.Get(ctx, "test:counter").Int(); got != want {
		t.Errorf("counter = %d, want %d: updates were lost", got, want)
	}
	if got, _ := rdb.Get(ctx, "test:overlaps").Int(); got != 0 {
		t.Errorf("%d entries found another holder inside", got)
	}
	if got, _ := rdb.Get(ctx, "test:stale-tokens").Int(); got != 0 {
		t.Errorf("%d grants carried a token not above the last one", got)
	}
}

// countUnderTheLock is the child's part of TestProcessesExcludeEachOther.
func countUnderTheLock(t *testing.T) {
	addr := os.Getenv("REDIS_ADDR")
	rdb := newClient(t, addr)
	p := newProvider(t, addr, nil)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for range childGoroutines {
		wg.Go(func() {
			for range childIterations {
				h, err := p.TryAcquire(ctx, "counter", time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if ok, _ := rdb.SetNX(ctx, "test:inside", os.Getpid(), 0).Result(); !ok {
					rdb.Incr(ctx, "test:overlaps")
				}
				n, _ := rdb.Get(ctx, "test:counter").Int()
				if last, _ := rdb.Get(ctx, "test:last-token").Uint64(); h.Token() <= last {
					rdb.Incr(ctx, "test:stale-tokens")
				}
				rdb.Set(ctx, "test:counter", n+1, 0)
				rdb.Set(ctx, "test:last-token", h.Token(), 0)
				rdb.Del(ctx, "test:inside")
				if err := h.Release(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// TestAKilledHoldersLockPassesOnWithinTTL kills (SIGKILL) a child process
// while it holds a lock with a 1s lease: this process must get the lock no
// later than 1s + 1s after the kill, with a larger fencing token.
func TestAKilledHoldersLockPassesOnWithinTTL(t *testing.T) {
	if redistest.ChildRole() == "holder" {
		holdUntilKilled(t)
		return
	}
	if redistest.ChildRole() != "" {
		return
	}
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	ctx := ctxT(t)
	child := redistest.Spawn(t, "holder", "REDIS_ADDR="+srv.Addr())
	held, err := rdb.BLPop(ctx, time.Minute, "test:held").Result()
	if err != nil {
		t.Fatalf("the child never held the lock: %v\n%s", err, child.Output())
	}
	childToken, _ := strconv.ParseUint(held[1], 10, 64)

	p := newProvider(t, srv.Addr(), lease())
	child.Kill()
	killed := time.Now()
	h, err := p.TryAcquire(ctx, "victim", 5*time.Second)
	if err != nil {
		t.Fatalf("the dead holder's lock never came free: %v", err)
	}
	defer h.Release(ctx)
	within(t, "taking a killed holder's lock", time.Since(killed), 0, shortLease.TTL+time.Second)
	if h.Token() <= childToken {
		t.Fatalf("token %d after the dead holder's %d", h.Token(), childToken)
	}
}

// holdUntilKilled is the child's part: take the lock, say so, wait for death.
func holdUntilKilled(t *testing.T) {
	addr := os.Getenv("REDIS_ADDR")
	p := newProvider(t, addr, lease())
	rdb := newClient(t, addr)
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "victim", 0)
	if err != nil {
		t.Fatal(err)
	}
	rdb.RPush(ctx, "test:held", fmt.Sprint(h.Token()))
	// The lease is being extended all along; only SIGKILL ends this.
	<-ctx.Done()
}
