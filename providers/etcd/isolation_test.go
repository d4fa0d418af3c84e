package etcd_test

import (
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/etcd/etcdtest"
)

// TestIsolatedMemberGrantsNoSecondHolder cuts one member of a 3-member
// cluster off from its two peers (they keep talking to each other) while a
// provider connected only to that member holds a lock. The majority grants
// the lock to a provider connected to it only after the isolated holder's
// Lost closed, with a higher token, and the fence refuses the stale
// holder's write. Through the isolated member nothing is granted: a try
// reports ErrUnavailable, never contention and never a grant.
func TestIsolatedMemberGrantsNoSecondHolder(t *testing.T) {
	noLeaks(t)
	c, pn := etcdtest.StartClusterWithPeerNet(t, 3)
	ctx := ctxT(t)
	waitFor(t, func() bool { return pn.KnowsID(0) })
	admin := newClient(t, c.Members[1].Endpoint(), c.Members[2].Endpoint())
	store := fencedStore{c: admin, key: "test/isolated"}
	store.init(t, ctx)
	isolated := newProvider(t, testOptions(), c.Members[0].Endpoint())
	majority := newProvider(t, testOptions(), c.Members[1].Endpoint(), c.Members[2].Endpoint())

	h, err := isolated.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	pn.Isolate(0)
	t.Cleanup(pn.Heal)

	// If the isolated member led, the majority elects a new leader first:
	// meanwhile its requests may time out (ErrUnavailable, rightly).
	var h2 locking.Handle
	for deadline := time.Now().Add(time.Minute); h2 == nil; {
		h2, err = majority.TryAcquire(ctx, "k", 30*time.Second)
		if err != nil && (!errors.Is(err, locking.ErrUnavailable) || time.Now().After(deadline)) {
			t.Fatalf("the majority did not grant the lock once the isolated holder's lease ran out: %v", err)
		}
		if err != nil {
			t.Logf("during the election: %v", err)
		}
	}
	select {
	case <-h.Lost():
	default:
		t.Fatalf("granted by the majority (token %d) before the isolated holder was told it lost the lock", h2.Token())
	}
	if h2.Token() <= h.Token() {
		t.Fatalf("next holder's token %d, not above the isolated holder's %d", h2.Token(), h.Token())
	}
	if ok, err := store.write(ctx, h2.Token(), 1); err != nil || !ok {
		t.Fatalf("the next holder's fenced write: ok=%v err=%v", ok, err)
	}
	if ok, err := store.write(ctx, h.Token(), 999); err != nil || ok {
		t.Fatalf("the isolated holder's stale write: accepted=%v err=%v, want refused", ok, err)
	}

	// While h2 holds, a try through the isolated member must neither be
	// granted nor report contention: that member cannot know.
	h3, err := isolated.TryAcquire(ctx, "k", 0)
	if err == nil {
		_ = h3.Release(ctx)
		t.Fatalf("granted through the isolated member (token %d) while %d holds", h3.Token(), h2.Token())
	}
	if !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("try through the isolated member: %v, want ErrUnavailable", err)
	}
	if err := h2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	_ = h.Release(ctx)
}
