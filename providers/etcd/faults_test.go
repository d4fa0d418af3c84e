package etcd_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// waitKey waits (watching, no polling) until key exists and returns its
// value.
func waitKey(t *testing.T, ctx context.Context, c *clientv3.Client, key string) string {
	t.Helper()
	resp, err := c.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) > 0 {
		return string(resp.Kvs[0].Value)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for wr := range c.Watch(wctx, key, clientv3.WithRev(resp.Header.Revision+1)) {
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypePut {
				return string(ev.Kv.Value)
			}
		}
	}
	t.Fatalf("%s not written within a minute", key)
	return ""
}

// TestStoppedHolderPastItsLease freezes (SIGSTOP) a child process holding
// the lock for longer than its lease. The next holder gets the lock once
// etcd expired the lease, with a higher token, and writes; the frozen holder,
// continued, is refused by the fence and is told it lost the lock.
func TestStoppedHolderPastItsLease(t *testing.T) {
	switch redistest.ChildRole() {
	case "frozen-holder":
		holdAndWriteLate(t)
		return
	case "":
	default:
		return
	}
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	ctx := ctxT(t)
	admin := newClient(t, ep)
	store := fencedStore{c: admin, key: "test/frozen"}
	store.init(t, ctx)
	child := redistest.Spawn(t, "frozen-holder", "ETCD_ENDPOINTS="+ep)
	childToken, _ := strconv.ParseUint(waitKey(t, ctx, admin, "test/frozen/child-token"), 10, 64)
	if err := child.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = child.Signal(syscall.SIGCONT)
		}
	}()
	p := newProvider(t, testOptions(), ep)
	start := time.Now()
	h, err := p.TryAcquire(ctx, "k", 30*time.Second)
	if err != nil {
		t.Fatalf("the lock of a frozen holder was not freed by its lease: %v", err)
	}
	t.Logf("granted %s after freezing the holder (TTL %s)", time.Since(start), p.TTL())
	if h.Token() <= childToken {
		t.Fatalf("next holder's token %d, not above the frozen holder's %d", h.Token(), childToken)
	}
	if ok, err := store.write(ctx, h.Token(), 1); err != nil || !ok {
		t.Fatalf("the next holder's fenced write: ok=%v err=%v", ok, err)
	}
	if _, err := admin.Put(ctx, "test/frozen/go", "1"); err != nil {
		t.Fatal(err)
	}
	if err := child.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	if err := child.Wait(time.Minute); err != nil {
		t.Fatalf("child: %v\n%s", err, child.Output())
	}
	if got := waitKey(t, ctx, admin, "test/frozen/result"); got != "write=false lost=true" {
		t.Errorf("the frozen holder, continued: %s, want write=false lost=true", got)
	}
	if v, _ := store.read(ctx); v != 1 {
		t.Errorf("counter %d, want the next holder's 1", v)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// holdAndWriteLate is the child's part of TestStoppedHolderPastItsLease: it
// takes the lock, says its token, waits for "go" (it is frozen meanwhile),
// then tries its fenced write at once and reports.
func holdAndWriteLate(t *testing.T) {
	eps := strings.Split(os.Getenv("ETCD_ENDPOINTS"), ",")
	p := newProvider(t, testOptions(), eps...)
	admin := newClient(t, eps...)
	store := fencedStore{c: admin, key: "test/frozen"}
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Put(ctx, "test/frozen/child-token", strconv.FormatUint(h.Token(), 10)); err != nil {
		t.Fatal(err)
	}
	waitKey(t, ctx, admin, "test/frozen/go")
	ok, err := store.write(ctx, h.Token(), 999)
	if err != nil {
		t.Fatal(err)
	}
	lost := false
	select {
	case <-h.Lost():
		lost = true
	case <-time.After(10 * time.Second):
	}
	if _, err := admin.Put(ctx, "test/frozen/result", fmt.Sprintf("write=%v lost=%v", ok, lost)); err != nil {
		t.Fatal(err)
	}
	_ = h.Release(ctx)
}

// newProxy runs a toxiproxy proxy in this process in front of upstream.
func newProxy(t *testing.T, upstream string) *toxiproxy.Proxy {
	t.Helper()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := toxiproxy.NewProxy(server, "etcd", "127.0.0.1:0", upstream)
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	return proxy
}

// TestPartitionedHolderPastItsLease cuts the holder off from etcd (a
// toxiproxy blackhole: connections stay open, nothing passes) for longer
// than its lease. The holder is told it lost the lock before anyone else is
// granted it; the next holder's token is higher; the cut-off holder's
// write, reaching the store another way, is refused by the fence.
func TestPartitionedHolderPastItsLease(t *testing.T) {
	c := etcdtest3(t)
	ctx := ctxT(t)
	admin := newClient(t, c.Endpoints()...)
	store := fencedStore{c: admin, key: "test/partition"}
	store.init(t, ctx)
	proxy := newProxy(t, c.Members[0].ClientAddr())
	cut := newProvider(t, testOptions(), "http://"+proxy.Listen)
	other := newProvider(t, testOptions(), c.Members[1].Endpoint(), c.Members[2].Endpoint())

	h, err := cut.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(`{"name":"down","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(`{"name":"up","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Toxics.ResetToxics(context.Background()) })

	h2, err := other.TryAcquire(ctx, "k", 30*time.Second)
	if err != nil {
		t.Fatalf("the cut-off holder's lease did not free the lock: %v", err)
	}
	select {
	case <-h.Lost():
	default:
		t.Fatalf("granted to another (token %d) before the cut-off holder was told it lost the lock", h2.Token())
	}
	if h2.Token() <= h.Token() {
		t.Fatalf("next holder's token %d, not above the cut-off holder's %d", h2.Token(), h.Token())
	}
	if ok, err := store.write(ctx, h2.Token(), 1); err != nil || !ok {
		t.Fatalf("the next holder's fenced write: ok=%v err=%v", ok, err)
	}
	if ok, err := store.write(ctx, h.Token(), 999); err != nil || ok {
		t.Fatalf("the cut-off holder's stale write: accepted=%v err=%v, want refused", ok, err)
	}
	if err := h2.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
