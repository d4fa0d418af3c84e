package etcd

import (
	"context"
	"time"
)

// A line is the provider's callers for one key, in arrival order. Its head
// (the caller enqueuing in etcd or waiting there) is not in waiting; the
// others wait for their ticket, closed when they become the head. A key
// with no line has no caller of this provider acquiring it: lines are
// removed when they empty, so they leave nothing behind.
type line struct {
	waiting []*ticket
}

// ticket is one caller's place in a line: ready closes when it is the head.
type ticket struct {
	ready chan struct{}
}

// joinLine puts the caller in key's line. It returns nil when the caller is
// the head at once, and a ticket to wait for otherwise.
func (p *Provider) joinLine(key string) *ticket {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lines[key]
	if l == nil {
		p.lines[key] = &line{}
		return nil
	}
	t := &ticket{ready: make(chan struct{})}
	l.waiting = append(l.waiting, t)
	return t
}

// waitInLine waits until t is the head of its line: nil, or ctx's error,
// or errTimedOut at deadline.
func (p *Provider) waitInLine(ctx context.Context, t *ticket, deadline time.Time) error {
	select { // the head may have gone already
	case <-t.ready:
		return nil
	default:
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return errTimedOut
	}
}

// leaveLine takes t out of key's line after its wait failed. It reports
// whether t had become the head meanwhile: the caller must then pass the
// head on.
func (p *Provider) leaveLine(key string, t *ticket) (head bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.lines[key]; l != nil {
		for i, w := range l.waiting {
			if w == t {
				l.waiting = append(l.waiting[:i], l.waiting[i+1:]...)
				return false
			}
		}
	}
	return true
}

// passHead makes the next caller of key's line its head, or removes the
// line when nobody waits. The head calls it once it holds the lock or has
// given up.
func (p *Provider) passHead(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lines[key]
	if l == nil {
		return
	}
	if len(l.waiting) == 0 {
		delete(p.lines, key)
		return
	}
	next := l.waiting[0]
	l.waiting[0] = nil
	l.waiting = l.waiting[1:]
	close(next.ready)
}
