package redlock_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// rlHolderCtx labels acquisitions the way the locking behavior does.
func rlHolderCtx(t *testing.T) context.Context {
	return locking.ContextWithAcquirer(rlCtx(t), locking.Acquirer{
		MessageType: "bank.WithdrawCommand",
		TraceID:     "4bf92f3577b34da6a3ce929d0e0e4736",
		SpanID:      "00f067aa0ba902b7",
	})
}

func TestRedlockInspectReportsTheMajorityHolder(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, &redlock.Options{Instance: "bank-7", TTL: 10 * time.Second})
	before := time.Now()
	h, err := r.TryAcquire(rlHolderCtx(t), "acct:42", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	info, err := r.Inspect(rlCtx(t), "acct:42")
	if err != nil {
		t.Fatal(err)
	}
	want := locking.Holder{Instance: "bank-7", MessageType: "bank.WithdrawCommand",
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}
	got := info.Holder
	got.Since = time.Time{}
	if !info.Held || got != want || info.Token != h.Token() || info.Key != "acct:42" {
		t.Fatalf("Inspect = %+v, want held by %+v with token %d", info, want, h.Token())
	}
	if s := info.Holder.Since; s.Before(before.Truncate(time.Microsecond)) || s.After(after) {
		t.Fatalf("Since = %s, want between %s and %s", s, before, after)
	}
	if info.LeaseLeft <= 0 || info.LeaseLeft > 10*time.Second || info.HeldFor < 0 || info.HeldFor > time.Since(before) {
		t.Fatalf("Inspect = %+v, want a lease in (0, 10s] and HeldFor within the test", info)
	}

	// A node that lost the key leaves a majority of two: still held. The
	// grant was had on a majority; the third node's may land later (on a
	// busy machine, well after TryAcquire returned), and it is kept.
	lock, _ := r.StorageKeys("acct:42")
	waitFor(t, "the grant on all three nodes", func() bool { return !slices.Contains(ns.owners(t, lock), "") })
	if err := ns.peek[0].Del(rlCtx(t), lock).Err(); err != nil {
		t.Fatal(err)
	}
	if info, err := r.Inspect(rlCtx(t), "acct:42"); err != nil || !info.Held || info.Holder.Instance != "bank-7" {
		t.Fatalf("Inspect with 2 of 3 nodes = %+v, %v, want still held by bank-7", info, err)
	}
	// Another owner's value on a second node leaves no majority.
	if err := ns.peek[1].Set(rlCtx(t), lock, "stranger", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if info, err := r.Inspect(rlCtx(t), "acct:42"); err != nil || info.Held {
		t.Fatalf("Inspect with the holder on 1 of 3 nodes = %+v, %v, want not held", info, err)
	}
	_ = h.Release(rlCtx(t)) // the majority is gone: ErrLockLost is fine

	for _, p := range ns.peek {
		_ = p.Del(rlCtx(t), lock).Err()
	}
	info, err = r.Inspect(rlCtx(t), "acct:42")
	if err != nil || info != (locking.LockInfo{Key: "acct:42"}) {
		t.Fatalf("Inspect of a free key = %+v, %v, want only the key", info, err)
	}
}

func TestRedlockInspectAfterReleaseIsNotHeld(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, nil)
	h, err := r.TryAcquire(rlHolderCtx(t), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Release(rlCtx(t)); err != nil {
		t.Fatal(err)
	}
	info, err := r.Inspect(rlCtx(t), "k")
	if err != nil || info.Held {
		t.Fatalf("Inspect after Release = %+v, %v, want not held", info, err)
	}
}

func TestRedlockInspectWithoutAMajorityOfNodesIsUnavailable(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, nil)
	ns.srvs[0].Stop()
	if _, err := r.Inspect(rlCtx(t), "k"); err != nil {
		t.Fatalf("Inspect with 2 of 3 nodes up = %v, want an answer", err)
	}
	ns.srvs[1].Stop()
	_, err := r.Inspect(rlCtx(t), "k")
	var ue *locking.UnavailableError
	if !errors.Is(err, locking.ErrUnavailable) || !errors.As(err, &ue) || ue.Key != "k" {
		t.Fatalf("Inspect with 1 of 3 nodes up = %v, want *locking.UnavailableError for \"k\"", err)
	}
}

func TestRedlockContentionNamesTheHolder(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	holder := ns.redlock(t, &redlock.Options{Instance: "holder-1"})
	other := ns.redlock(t, &redlock.Options{Instance: "other-2"})
	h, err := holder.TryAcquire(rlHolderCtx(t), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(rlCtx(t))
	for _, timeout := range []time.Duration{0, 200 * time.Millisecond} {
		_, err := other.TryAcquire(rlCtx(t), "k", timeout)
		var he *locking.HeldError
		var le *locking.Error
		if !errors.As(err, &he) || !errors.As(err, &le) || errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("timeout %s: err = %v, want *locking.HeldError and *locking.Error, not unavailability", timeout, err)
		}
		if le.Timeout != timeout || he.Key != "k" || he.Holder.Instance != "holder-1" ||
			he.Holder.MessageType != "bank.WithdrawCommand" || he.Holder.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Fatalf("timeout %s: %+v / %+v, want holder-1's WithdrawCommand", timeout, le, he)
		}
	}
}
