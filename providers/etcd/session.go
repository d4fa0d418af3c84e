package etcd

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// session is one lease of the provider, kept alive from one goroutine while
// it is current. Every lock key (held or waiting) the provider creates is
// attached to the current session's lease, so a process that dies or stops
// renewing loses all its keys at once when etcd expires the lease.
//
// done closes when the provider can no longer vouch for the lease: no
// renewal answer came for lostAfter (two thirds of the TTL, so this happens
// before etcd can expire it), the keep-alive ended, or the session was
// abandoned. Handles on the session then report Lost.
type session struct {
	id     clientv3.LeaseID
	done   chan struct{}
	ctx    context.Context    // ends when the session is abandoned (before done closes)
	cancel context.CancelFunc // stops the keep-alive

	abandonOnce sync.Once
}

// openSession grants a lease of the provider's TTL (bounded by deadline and
// ctx) and starts keeping it alive on a goroutine that p.wg counts.
func (p *Provider) openSession(ctx context.Context, deadline time.Time) (*session, error) {
	gctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	resp, err := p.client.Grant(gctx, p.s.ttlSeconds)
	if err != nil {
		return nil, fmt.Errorf("etcd: granting the session lease: %w", err)
	}
	granted := time.Now()
	kctx, stop := context.WithCancel(context.Background())
	ka, err := p.client.KeepAlive(kctx, resp.ID)
	if err != nil {
		stop()
		return nil, fmt.Errorf("etcd: keeping the session lease alive: %w", err)
	}
	s := &session{id: resp.ID, done: make(chan struct{}), ctx: kctx, cancel: stop}
	lostAfter := time.Duration(p.s.ttlSeconds) * time.Second * 2 / 3
	p.wg.Go(func() {
		s.keepAlive(ka, granted, lostAfter, func() {
			p.loseWhere(func(h *handle) bool { return h.sess == s })
		})
	})
	return s, nil
}

// keepAlive drains the keep-alive answers and closes done when they stop
// coming for lostAfter or the keep-alive ends; onLost runs then, once.
func (s *session) keepAlive(ka <-chan *clientv3.LeaseKeepAliveResponse, granted time.Time, lostAfter time.Duration, onLost func()) {
	timer := time.NewTimer(time.Until(granted.Add(lostAfter)))
	defer timer.Stop()
	lose := sync.OnceFunc(func() {
		close(s.done)
		onLost()
	})
	for {
		select {
		case _, ok := <-ka:
			if !ok {
				s.abandon()
				lose()
				return
			}
			timer.Reset(lostAfter)
		case <-timer.C:
			// No renewal answer for two thirds of the lease: etcd may expire
			// it soon. Stop renewing — the keys must go with the lease — and
			// drain until the client closes the channel.
			s.abandon()
			lose()
		}
	}
}

// abandon stops renewing the lease: etcd expires it (and every key on it)
// within the TTL, and done closes once the keep-alive channel has.
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
