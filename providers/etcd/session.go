package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// session is one lease of the provider, kept alive from one goroutine while
// it is current. Every lock key (held or waiting) the provider creates is
// attached to the current session's lease, so a process that dies or stops
// renewing loses all its keys at once when etcd expires the lease.
//
// done closes when the provider can no longer vouch for the lease (see
// keepAlive), or when the session was abandoned. Handles on the session
// then report Lost.
type session struct {
	id     clientv3.LeaseID
	done   chan struct{}
	ctx    context.Context    // ends when the session is abandoned (before done closes)
	cancel context.CancelFunc // stops the keep-alive

	abandonOnce sync.Once
}

// renewRetry is the pause between renewals that etcd did not answer, while
// the lease may still be valid.
const renewRetry = 100 * time.Millisecond

// openSession grants a lease of the provider's TTL (bounded by deadline and
// ctx) and starts keeping it alive on a goroutine that p.wg counts.
func (p *Provider) openSession(ctx context.Context, deadline time.Time) (*session, error) {
	gctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// etcd starts the lease's time when it grants it, which is after this
	// moment but may be long before its answer arrives (a frozen member
	// holds answers back): the lease is counted from here.
	sent := time.Now()
	resp, err := p.client.Grant(gctx, p.s.ttlSeconds)
	if err != nil {
		return nil, fmt.Errorf("etcd: granting the session lease: %w", err)
	}
	kctx, stop := context.WithCancel(context.Background())
	s := &session{id: resp.ID, done: make(chan struct{}), ctx: kctx, cancel: stop}
	ttl := time.Duration(p.s.ttlSeconds) * time.Second
	p.wg.Go(func() {
		s.keepAlive(p.client, sent, ttl, func() {
			p.loseWhere(func(h *handle) bool { return h.sess == s })
		})
	})
	return s, nil
}

// keepAlive renews the lease a third of ttl after each renewal etcd
// confirmed, one request at a time, and returns once it can no longer
// vouch for the lease: then it abandons the session, closes done and runs
// onLost.
//
// That moment is two thirds of ttl after the sending of the last request
// etcd confirmed (the grant's, sent at granted, to begin with): etcd renewed
// the lease no earlier than that sending, so it cannot expire it until ttl
// after, and a third of ttl is left for the clocks' drift and for the holders
// to hear of it. It is counted from the sending, not from the answer, because
// an answer can arrive seconds after etcd renewed the lease (a member frozen
// between the two), and a lease counted from such an answer could expire
// while the holders still believe in it. It also returns when etcd says the
// lease is gone, and when the session is abandoned.
func (s *session) keepAlive(lease clientv3.Lease, granted time.Time, ttl time.Duration, onLost func()) {
	defer func() {
		s.abandon()
		close(s.done)
		onLost()
	}()
	validUntil := granted.Add(ttl * 2 / 3)
	next := granted.Add(ttl / 3)
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-timer.C:
		}
		sent := time.Now()
		if !sent.Before(validUntil) {
			return
		}
		rctx, cancel := context.WithDeadline(s.ctx, validUntil)
		resp, err := lease.KeepAliveOnce(rctx, s.id)
		cancel()
		switch {
		case err == nil:
			validUntil = sent.Add(min(ttl, time.Duration(resp.TTL)*time.Second) * 2 / 3)
			next = sent.Add(ttl / 3)
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			return
		default:
			// No answer (or an error): try again while the lease may
			// still be valid.
			next = time.Now().Add(renewRetry)
		}
		timer.Reset(time.Until(earliest(next, validUntil)))
	}
}

// abandon stops renewing the lease: etcd expires it (and every key on it)
// within the TTL, and done closes as soon as the keep-alive has returned.
func (s *session) abandon() { s.abandonOnce.Do(s.cancel) }

// isDone reports whether done is closed.
func (s *session) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}
