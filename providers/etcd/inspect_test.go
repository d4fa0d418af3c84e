package etcd_test

import (
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/etcd"
)

// TestInspectNamesTheHolderFromAnotherProvider has one provider hold a key
// with an Acquirer in its context and another, which only reads etcd,
// inspect it: the holder's instance, message type and trace, the token,
// how long it is held, the lease left and the inspector's own waiters.
func TestInspectNamesTheHolderFromAnotherProvider(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	opts := testOptions()
	opts.Instance = "worker-1"
	holderP := newProvider(t, opts, ep)
	inspector := newProvider(t, testOptions(), ep)
	ctx := ctxT(t)

	info, err := inspector.Inspect(ctx, "acct:42")
	if err != nil {
		t.Fatal(err)
	}
	if info.Held || info.Key != "acct:42" || info.Token != 0 {
		t.Fatalf("free key: %+v, want not held", info)
	}

	before := time.Now()
	actx := locking.ContextWithAcquirer(ctx, locking.Acquirer{MessageType: "bank.WithdrawCommand", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"})
	h, err := holderP.TryAcquire(actx, "acct:42", 0)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		w, err := inspector.TryAcquire(ctx, "acct:42", time.Minute)
		if err == nil {
			err = w.Release(ctx)
		}
		waiting <- err
	}()
	waitFor(t, func() bool { return inspector.Waiters("acct:42") == 1 })

	info, err = inspector.Inspect(ctx, "acct:42")
	if err != nil {
		t.Fatal(err)
	}
	want := locking.Holder{Instance: "worker-1", MessageType: "bank.WithdrawCommand", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}
	got := info.Holder
	got.Since = time.Time{}
	if !info.Held || got != want {
		t.Fatalf("holder %+v (held %v), want %+v", info.Holder, info.Held, want)
	}
	if info.Token != h.Token() {
		t.Errorf("token %d, want the holder's %d", info.Token, h.Token())
	}
	if info.Holder.Since.Before(before.Add(-time.Second)) || info.Holder.Since.After(time.Now()) {
		t.Errorf("since %s, want between %s and now", info.Holder.Since, before)
	}
	if info.HeldFor < 0 || info.HeldFor > time.Minute {
		t.Errorf("held for %s", info.HeldFor)
	}
	if info.LeaseLeft <= 0 || info.LeaseLeft > holderP.TTL() {
		t.Errorf("lease left %s, want in (0, %s]", info.LeaseLeft, holderP.TTL())
	}
	if info.Waiters != 1 {
		t.Errorf("waiters %d, want the inspector's 1", info.Waiters)
	}

	// The holding provider reports its own grant time.
	own, err := holderP.Inspect(ctx, "acct:42")
	if err != nil {
		t.Fatal(err)
	}
	if own.Holder.Instance != "worker-1" || own.Token != h.Token() || own.Waiters != 0 {
		t.Errorf("the holder's own view: %+v", own)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err != nil {
		t.Fatal(err)
	}
}

// TestInspectUnreachableIsUnavailable inspects through an etcd that does
// not answer: an error matching ErrUnavailable.
func TestInspectUnreachableIsUnavailable(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	p := newProvider(t, testOptions(), c.Members[0].Endpoint())
	c.Members[0].Stop()
	_, err := p.Inspect(ctxT(t), "k")
	var ue *locking.UnavailableError
	if !errors.Is(err, locking.ErrUnavailable) || !errors.As(err, &ue) {
		t.Fatalf("Inspect with etcd stopped: %v, want ErrUnavailable", err)
	}
}

// TestDefaultInstanceIsHostAndPid: with no Options.Instance the holder is
// named locking.DefaultInstance().
func TestDefaultInstanceIsHostAndPid(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	p := newProvider(t, &etcd.Options{TTL: 3 * time.Second}, c.Members[0].Endpoint())
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	info, err := p.Inspect(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if info.Holder.Instance != locking.DefaultInstance() {
		t.Errorf("instance %q, want %q", info.Holder.Instance, locking.DefaultInstance())
	}
}
