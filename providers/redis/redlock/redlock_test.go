package redlock_test

import (
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

func TestRedlockGrantsOnEveryNodeWithOneOwnerAndOneToken(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, nil)
	ctx := rlCtx(t)
	if r.Nodes() != 3 || r.Quorum() != 2 {
		t.Fatalf("Nodes, Quorum = %d, %d; want 3, 2", r.Nodes(), r.Quorum())
	}
	h, err := r.TryAcquire(ctx, "account:42", 0)
	if err != nil {
		t.Fatal(err)
	}
	lock, fence := r.StorageKeys("account:42")
	// A majority was enough to return; the third grant may land just after.
	var owners []string
	rlEventually(t, func() bool {
		owners = ns.owners(t, lock)
		return owners[0] != "" && owners[1] != "" && owners[2] != ""
	})
	if owners[0] == "" || owners[0] != owners[1] || owners[1] != owners[2] {
		t.Fatalf("owners on the nodes = %q, want one owner everywhere", owners)
	}
	for i, c := range ns.peek {
		if ttl, err := c.PTTL(ctx, lock).Result(); err != nil || ttl <= 29*time.Second || ttl > 30*time.Second {
			t.Fatalf("node %d: PTTL = %s, %v; want the default 30s lease", i, ttl, err)
		}
	}
	// The token is the largest counter the majority drew, stored on a
	// majority before the lock is handed out.
	if got := ns.fences(t, fence); h.Token() == 0 || countAtLeast(got, h.Token()) < 2 {
		t.Fatalf("fence counters = %v, token %d; want the token on a majority", got, h.Token())
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	if !rlEventually(t, func() bool {
		got = ns.owners(t, lock)
		return got[0] == "" && got[1] == "" && got[2] == ""
	}) {
		t.Fatalf("owners after Release = %q, want none", got)
	}
}

func TestRedlockWithOneNodeDownStillLocksAndExcludes(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, nil)
	ctx := rlCtx(t)
	ns.srvs[2].Kill()

	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatalf("one node of three down: %v", err)
	}
	_, err = r.TryAcquire(ctx, "k", 0)
	var le *locking.Error
	if !errors.As(err, &le) || errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("second TryAcquire = %v, want *locking.Error (contention), not unavailability", err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatalf("Release with one node down = %v, want nil (a majority deleted it)", err)
	}
	h2, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	_ = h2.Release(ctx)
}

func TestRedlockWithTwoNodesDownIsUnavailableNotContention(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, nil)
	ctx := rlCtx(t)
	ns.srvs[1].Kill()
	ns.srvs[2].Kill()
	begin := time.Now()
	_, err := r.TryAcquire(ctx, "k", 5*time.Second)
	var ue *locking.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, locking.ErrUnavailable) || errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("err = %v, want *locking.UnavailableError only", err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("reporting the outage took %s, want it prompt", d)
	}
	lock, _ := r.StorageKeys("k")
	if got := ns.owners(t, lock)[0]; got != "" {
		t.Fatalf("the surviving node kept the lone grant %q; a failed attempt must give it back", got)
	}
	if err := r.Ping(ctx); !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("Ping = %v, want ErrUnavailable", err)
	}
}
