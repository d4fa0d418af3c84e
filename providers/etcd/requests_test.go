package etcd_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/etcd"
)

// requestCounter counts the gRPC calls a client makes to etcd, unary
// requests and streams apart, by method ("/etcdserverpb.KV/Txn").
type requestCounter struct {
	mu      sync.Mutex
	unary   map[string]int
	streams map[string]int
}

func newRequestCounter() *requestCounter {
	return &requestCounter{unary: map[string]int{}, streams: map[string]int{}}
}

func (rc *requestCounter) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			rc.mu.Lock()
			rc.unary[method]++
			rc.mu.Unlock()
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			rc.mu.Lock()
			rc.streams[method]++
			rc.mu.Unlock()
			return streamer(ctx, desc, cc, method, opts...)
		}),
	}
}

// take returns the counts so far and starts again from zero.
func (rc *requestCounter) take() (unary, streams map[string]int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	unary, streams = maps.Clone(rc.unary), maps.Clone(rc.streams)
	clear(rc.unary)
	clear(rc.streams)
	return unary, streams
}

// countingProvider returns a provider whose client counts its requests.
func countingProvider(t *testing.T, ep string) (*etcd.Provider, *requestCounter) {
	t.Helper()
	rc := newRequestCounter()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, Logger: zap.NewNop(), DialOptions: rc.dialOptions()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	p, err := etcd.New(c, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, rc
}

// TestFreeLockCostsATransactionAndADelete counts, against a real etcd, what
// an acquisition and release of a free lock costs: after the session lease
// (granted once, renewed on short keep-alive streams), exactly what concurrency.Mutex's
// Lock+Unlock costs — one transaction that creates the entry and reads the
// queue's head, one delete — and no watch: a lock released within
// watchAfter is never watched.
func TestFreeLockCostsATransactionAndADelete(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	p, rc := countingProvider(t, c.Members[0].Endpoint())
	ctx := ctxT(t)
	const n = 20
	for i := range n {
		h, err := p.TryAcquire(ctx, "k", 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			unary, streams := rc.take()
			want := map[string]int{"/etcdserverpb.Lease/LeaseGrant": 1, "/etcdserverpb.KV/Txn": 1, "/etcdserverpb.KV/DeleteRange": 1}
			if !maps.Equal(unary, want) {
				t.Errorf("first acquisition and release: requests %v, want %v", unary, want)
			}
			if !onlyRenewals(streams) {
				t.Errorf("first acquisition and release: streams %v, want none but the lease's renewals (no watch)", streams)
			}
		}
	}
	unary, streams := rc.take()
	if want := map[string]int{"/etcdserverpb.KV/Txn": n - 1, "/etcdserverpb.KV/DeleteRange": n - 1}; !maps.Equal(unary, want) {
		t.Errorf("%d more acquisitions and releases: requests %v, want %v", n-1, unary, want)
	}
	if !onlyRenewals(streams) {
		t.Errorf("%d more acquisitions and releases: streams %v, want none but the lease's renewals", n-1, streams)
	}
}

// onlyRenewals reports whether streams holds no stream but the session
// lease's renewals (one short stream per renewal, a third of the TTL apart:
// their number depends on how long the test took).
func onlyRenewals(streams map[string]int) bool {
	for method := range streams {
		if method != "/etcdserverpb.Lease/LeaseKeepAlive" {
			return false
		}
	}
	return true
}

// TestEntryDeletedRightAfterTheGrantIsLost deletes the holder's entry
// before the provider watches it (it is watched once held for watchAfter):
// the watch, started from the revision after the entry's creation, still
// sees the deletion and Lost closes.
func TestEntryDeletedRightAfterTheGrantIsLost(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	admin := newClient(t, ep)
	p, rc := countingProvider(t, ep)
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Delete(ctx, p.QueuePrefix("k"), clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Lost():
	case <-time.After(30 * time.Second):
		t.Fatal("Lost did not close after the entry was deleted")
	}
	// The locking behavior watches the signal itself, not Lost.
	if sig, ok := h.(interface{ LostSignal() *locking.LostSignal }); !ok || !sig.LostSignal().Fired() {
		t.Errorf("the handle's LostSignal (offered: %t) has not fired with Lost", ok)
	}
	if _, streams := rc.take(); streams["/etcdserverpb.Watch/Watch"] != 1 {
		t.Errorf("streams %v, want one watch", streams)
	}
	if err := h.Release(ctx); !errors.Is(err, locking.ErrLockLost) {
		t.Errorf("Release of a deleted entry: %v, want ErrLockLost", err)
	}
}

// TestEntryDeletedBeforeTheWatchStartedIsFoundByARead has a waiting entry
// deleted (by an operator) before a lock on another key is created and
// watched; the waiter is then granted (nothing ahead of it any more) and,
// once held for watchAfter, the running watch cannot report that older
// deletion: a read finds the entry gone and Lost closes.
func TestEntryDeletedBeforeTheWatchStartedIsFoundByARead(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	admin := newClient(t, ep)
	p, rc := countingProvider(t, ep)
	other := newProvider(t, testOptions(), ep)
	ctx := ctxT(t)
	blocker, err := other.TryAcquire(ctx, "old", 0)
	if err != nil {
		t.Fatal(err)
	}
	granted := make(chan locking.Handle, 1)
	go func() {
		h, err := p.TryAcquire(ctx, "old", time.Minute)
		if err != nil {
			t.Error(err)
		}
		granted <- h
	}()
	waitFor(t, func() bool { return p.Waiters("old") == 1 })
	queue, err := admin.Get(ctx, p.QueuePrefix("old"), clientv3.WithLastCreate()...)
	if err != nil || len(queue.Kvs) != 1 {
		t.Fatalf("reading the waiter's entry: %v %v", queue, err)
	}
	if _, err := admin.Delete(ctx, string(queue.Kvs[0].Key)); err != nil {
		t.Fatal(err)
	}
	young, err := p.TryAcquire(ctx, "young", 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return etcd.WatchRunning(p) })
	if err := blocker.Release(ctx); err != nil {
		t.Fatal(err)
	}
	old := <-granted
	if old == nil {
		t.FailNow()
	}
	rc.take()
	select {
	case <-old.Lost():
	case <-time.After(30 * time.Second):
		t.Fatal("Lost did not close: the entry deleted before the watch started went unnoticed")
	}
	if unary, _ := rc.take(); unary["/etcdserverpb.KV/Range"] != 1 {
		t.Errorf("requests %v, want the one read", unary)
	}
	select {
	case <-young.Lost():
		t.Fatal("young reports Lost, its entry was not touched")
	default:
	}
	_ = old.Release(ctx)
	if err := young.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLockingAKeyAgainWritesTheSameEtcdKey locks and unlocks one key again
// and again, and two keys at once: each acquisition's entry reuses the name
// its predecessor freed, as concurrency.Mutex's does. A fresh name per
// acquisition left a deleted key in etcd's index each time (until a
// compaction) which every later read of the queue visited: acquisitions got
// slower one after the other (the free-lock benchmark measured 1.3× a
// Mutex's after 2,000 of them, 1.0× with reuse).
func TestLockingAKeyAgainWritesTheSameEtcdKey(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	admin := newClient(t, ep)
	p := newProvider(t, testOptions(), ep)
	ctx := ctxT(t)
	entry := func(key string) string {
		t.Helper()
		resp, err := admin.Get(ctx, p.QueuePrefix(key), clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("queue of %q: %v %v, want one entry", key, resp, err)
		}
		return string(resp.Kvs[0].Key)
	}
	names := map[string]bool{}
	for range 10 {
		a, err := p.TryAcquire(ctx, "a", 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := p.TryAcquire(ctx, "b", 0)
		if err != nil {
			t.Fatal(err)
		}
		names[entry("a")] = true
		names[entry("b")] = true
		if err := b.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(names) != 2 {
		t.Fatalf("20 acquisitions of two keys, two at a time, wrote %d etcd keys, want 2: %v", len(names), slices.Sorted(maps.Keys(names)))
	}
}
