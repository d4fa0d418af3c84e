package etcd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/etcd/etcdtest"
)

// leader returns the index of the cluster's leader.
func leader(t *testing.T, c *etcdtest.Cluster, cli *clientv3.Client) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for i, m := range c.Members {
			if !m.Running() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := cli.Status(ctx, m.Endpoint())
			cancel()
			if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
				return i
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLeaderKilledWhileHeld kills the leader of a 3-member cluster while a
// lock is held. Never two holders: until the holder releases (or is told it
// lost the lock) nobody else gets it; the holder's fenced write still
// succeeds if it was not told; after release the next holder's token is
// higher. The killed member is started again and rejoins (a member
// restart), and locks keep working through it.
func TestLeaderKilledWhileHeld(t *testing.T) {
	noLeaks(t)
	c := etcdtest.StartCluster(t, 3)
	eps := c.Endpoints()
	ctx := ctxT(t)
	admin := newClient(t, eps...)
	store := fencedStore{c: admin, key: "test/leader-killed"}
	store.init(t, ctx)
	p1 := newProvider(t, testOptions(), eps...)
	p2 := newProvider(t, testOptions(), eps...)

	h, err := p1.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	killed := leader(t, c, admin)
	c.Members[killed].Kill()
	newLeader := leader(t, c, admin)
	t.Logf("killed leader m%d; new leader m%d", killed, newLeader)

	// While h is held and not lost, another provider is refused.
	got, err := p2.TryAcquire(ctx, "k", 2*time.Second)
	select {
	case <-h.Lost():
		t.Log("the holder was told it lost the lock")
		if got != nil {
			_ = got.Release(ctx)
		}
	default:
		if got != nil {
			t.Fatalf("a second holder (token %d) while the first (token %d) was not told it lost the lock", got.Token(), h.Token())
		}
		if !errors.Is(err, locking.ErrNotAcquired) {
			t.Fatalf("TryAcquire while held: %v, want contention", err)
		}
		if ok, err := store.write(ctx, h.Token(), 1); err != nil || !ok {
			t.Fatalf("the holder's fenced write after the leader change: ok=%v err=%v", ok, err)
		}
	}
	if err := h.Release(ctx); err != nil && !errors.Is(err, locking.ErrLockLost) {
		t.Fatalf("Release: %v", err)
	}

	// The killed member comes back and rejoins; locks work through it.
	c.Members[killed].Start()
	c.Members[killed].WaitHealthy()
	p3 := newProvider(t, testOptions(), c.Members[killed].Endpoint())
	h3, err := p3.TryAcquire(ctx, "k", 10*time.Second)
	if err != nil {
		t.Fatalf("through the restarted member: %v", err)
	}
	if h3.Token() <= h.Token() {
		t.Errorf("token after the leader change %d, not above %d", h3.Token(), h.Token())
	}
	if ok, err := store.write(ctx, h3.Token(), 2); err != nil || !ok {
		t.Fatalf("the next holder's fenced write: ok=%v err=%v", ok, err)
	}
	if ok, _ := store.write(ctx, h.Token(), 3); ok {
		t.Error("the fence accepted the first holder's stale token")
	}
	if err := h3.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestNoQuorumIsUnavailable stops two members of three with a lock held:
// acquisitions report ErrUnavailable — never contention — within their
// bounds, the holder is told it lost the lock before its lease could
// expire, and once the members are back the key can be taken again with a
// higher token.
func TestNoQuorumIsUnavailable(t *testing.T) {
	noLeaks(t)
	c := etcdtest.StartCluster(t, 3)
	eps := c.Endpoints()
	ctx := ctxT(t)
	p1 := newProvider(t, testOptions(), eps...)
	p2 := newProvider(t, testOptions(), eps...)
	h, err := p1.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	c.Members[1].Stop()
	c.Members[2].Stop()
	for _, timeout := range []time.Duration{0, 500 * time.Millisecond, 3 * time.Second} {
		start := time.Now()
		got, err := p2.TryAcquire(ctx, "k", timeout)
		elapsed := time.Since(start)
		if got != nil {
			t.Fatalf("granted without quorum (timeout %s)", timeout)
		}
		if !errors.Is(err, locking.ErrUnavailable) || errors.Is(err, locking.ErrNotAcquired) {
			t.Fatalf("TryAcquire(%s) without quorum: %v, want ErrUnavailable only", timeout, err)
		}
		if limit := timeout + 3*time.Second; elapsed > limit {
			t.Fatalf("TryAcquire(%s) without quorum took %s, want at most %s", timeout, elapsed, limit)
		}
	}
	select {
	case <-h.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("the holder was not told it lost the lock within 10s of losing quorum (TTL 3s)")
	}
	c.Members[1].Start()
	c.Members[2].Start()
	for _, m := range c.Members {
		m.WaitHealthy()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		h2, err := p2.TryAcquire(ctx, "k", 5*time.Second)
		if err == nil {
			if h2.Token() <= h.Token() {
				t.Errorf("token after the outage %d, not above %d", h2.Token(), h.Token())
			}
			_ = h2.Release(ctx)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key could not be taken after quorum came back: %v", err)
		}
	}
	_ = h.Release(ctx)
}
