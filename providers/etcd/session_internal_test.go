package etcd

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

// These tests drive session.keepAlive with a lease whose renewals answer as
// a script says, to pin down when the provider stops vouching for a lease;
// the etcd tests and `make chaos` run the same code against real members.

// scriptedLease answers KeepAliveOnce through answer, given the call's
// number (from 1); it records when each call came.
type scriptedLease struct {
	clientv3.Lease // only KeepAliveOnce is called
	answer         func(ctx context.Context, call int) (*clientv3.LeaseKeepAliveResponse, error)

	mu    sync.Mutex
	calls []time.Time
}

func (l *scriptedLease) KeepAliveOnce(ctx context.Context, _ clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) {
	l.mu.Lock()
	l.calls = append(l.calls, time.Now())
	n := len(l.calls)
	l.mu.Unlock()
	return l.answer(ctx, n)
}

func (l *scriptedLease) callTimes() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.calls...)
}

// noAnswer is etcd not answering: the call ends with its context.
func noAnswer(ctx context.Context) (*clientv3.LeaseKeepAliveResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// runKeepAlive runs keepAlive on l from granted with ttl, and returns the
// session and a channel closed once onLost has run.
func runKeepAlive(t *testing.T, l clientv3.Lease, granted time.Time, ttl time.Duration) (*session, <-chan struct{}) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{done: make(chan struct{}), ctx: ctx, cancel: cancel}
	lost := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.keepAlive(l, granted, ttl, func() { close(lost) }) })
	t.Cleanup(func() {
		s.abandon()
		wg.Wait()
	})
	return s, lost
}

// waitLost waits, up to a bound far above any scheduling delay, for onLost.
func waitLost(t *testing.T, s *session, lost <-chan struct{}) time.Time {
	t.Helper()
	select {
	case <-lost:
	case <-time.After(time.Minute):
		t.Fatal("the session was never reported lost")
	}
	if !s.isDone() || s.ctx.Err() == nil {
		t.Fatal("onLost ran before done closed and the session was abandoned")
	}
	return time.Now()
}

// TestAGrantAnsweredLateCountsFromItsSending: a grant whose answer came
// after two thirds of the TTL (a frozen member held it back) is not
// vouched for at all — etcd may expire it any moment — so the session is
// lost at once, without a renewal that could not save it.
func TestAGrantAnsweredLateCountsFromItsSending(t *testing.T) {
	l := &scriptedLease{answer: func(ctx context.Context, _ int) (*clientv3.LeaseKeepAliveResponse, error) {
		return &clientv3.LeaseKeepAliveResponse{TTL: 3}, nil
	}}
	s, lost := runKeepAlive(t, l, time.Now().Add(-2500*time.Millisecond), 3*time.Second)
	waitLost(t, s, lost)
	if n := len(l.callTimes()); n != 0 {
		t.Errorf("%d renewals sent for a lease past its vouched time, want 0", n)
	}
}

// TestARenewalAnsweredLateCountsFromItsSending: the lease is vouched for
// until two thirds of the TTL after the sending of the last renewal etcd
// confirmed, not after its answer: etcd renewed it no earlier than the
// sending, so it can expire it one TTL after that. Here the one renewal
// that is answered is held back 1.5s of a 3s TTL, past its call's deadline
// (as an answer already on its way can be); counted from that answer, the
// lease would be vouched for until 0.5s after etcd could expire it. The
// session must be lost before that renewal's sending + TTL, and (since a
// renewal was answered) not before the next renewal was tried.
func TestARenewalAnsweredLateCountsFromItsSending(t *testing.T) {
	const ttl = 3 * time.Second
	l := &scriptedLease{answer: func(ctx context.Context, call int) (*clientv3.LeaseKeepAliveResponse, error) {
		if call > 1 {
			return noAnswer(ctx)
		}
		time.Sleep(1500 * time.Millisecond)
		return &clientv3.LeaseKeepAliveResponse{TTL: 3}, nil
	}}
	s, lost := runKeepAlive(t, l, time.Now(), ttl)
	at := waitLost(t, s, lost)
	calls := l.callTimes()
	if len(calls) < 2 {
		t.Fatalf("lost after %d renewal(s); want the answered one and at least one more tried", len(calls))
	}
	if expiry := calls[0].Add(ttl); !at.Before(expiry) {
		t.Errorf("lost %s after etcd could have expired the lease (its last renewal sent at %s, TTL %s)",
			at.Sub(expiry), calls[0].Format(time.StampMicro), ttl)
	}
}

// TestALeaseEtcdNoLongerKnowsIsLostAtOnce: a renewal that etcd answers
// with "lease not found" ends the session without another try.
func TestALeaseEtcdNoLongerKnowsIsLostAtOnce(t *testing.T) {
	l := &scriptedLease{answer: func(context.Context, int) (*clientv3.LeaseKeepAliveResponse, error) {
		return nil, rpctypes.ErrLeaseNotFound
	}}
	s, lost := runKeepAlive(t, l, time.Now(), 600*time.Millisecond)
	waitLost(t, s, lost)
	if n := len(l.callTimes()); n != 1 {
		t.Errorf("%d renewals sent, want 1", n)
	}
}

// TestUnansweredRenewalsAreRetriedUntilTheLeaseRunsOut: renewals that etcd
// does not answer are tried again (the lease may still be saved) until the
// vouched time runs out; then the session is lost.
func TestUnansweredRenewalsAreRetriedUntilTheLeaseRunsOut(t *testing.T) {
	l := &scriptedLease{answer: func(ctx context.Context, _ int) (*clientv3.LeaseKeepAliveResponse, error) {
		return nil, rpctypes.ErrNoLeader
	}}
	granted := time.Now()
	s, lost := runKeepAlive(t, l, granted, 3*time.Second)
	waitLost(t, s, lost)
	if n := len(l.callTimes()); n < 2 {
		t.Errorf("%d renewals sent in the second before the lease ran out, want it retried", n)
	}
}
