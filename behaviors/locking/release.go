package locking

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// ReleaseTimeout bounds each Release call, so a provider that cannot reach
// its server does not hold the caller forever; its lease then runs out on
// its own.
const ReleaseTimeout = 10 * time.Second

// clockBase is the origin of clock: durations since it are monotonic and
// take 8 bytes where a time.Time takes 24, which keeps a lock scope in a
// smaller allocation class.
var clockBase = time.Now()

// clock returns the monotonic time since clockBase.
func clock() time.Duration { return time.Since(clockBase) }

// releaseContext is the context locks are released with: never cancelled by
// the caller (so a cancelled request still frees its lock), but bounded by
// ReleaseTimeout. It keeps the caller's values (trace ids, say). The deadline
// and its timer are set up only when a provider asks for them, so a release
// that never looks (the memory provider's) costs no allocation. A lock scope
// does not carry one: it hands providers itself seen as a releaseView, whose
// values are the scope's caller's.
type releaseContext struct {
	values context.Context
	clock  releaseClock
}

func (c *releaseContext) Deadline() (time.Time, bool) { return c.clock.deadline() }
func (c *releaseContext) Done() <-chan struct{}       { return c.clock.done() }
func (c *releaseContext) Err() error                  { return c.clock.err() }
func (c *releaseContext) Value(key any) any           { return c.values.Value(key) }
func (c *releaseContext) stop()                       { c.clock.stop() }

// releaseView is a scope seen as the context its locks are released with:
// the scope's caller's values, the scope's release clock.
type releaseView scope

func (v *releaseView) Deadline() (time.Time, bool) { return v.relClock.deadline() }
func (v *releaseView) Done() <-chan struct{}       { return v.relClock.done() }
func (v *releaseView) Err() error                  { return v.relClock.err() }
func (v *releaseView) Value(key any) any           { return v.Context.Value(key) }

// releaseClock is the deadline of a release context: one word until a
// provider asks about it.
type releaseClock struct {
	timing atomic.Pointer[releaseTiming] // nil until a provider asks
}

// releaseTiming is the deadline of a releaseClock and what enforces it.
type releaseTiming struct {
	deadline time.Duration // clock() + ReleaseTimeout

	mu      sync.Mutex
	done    chan struct{}
	timer   *time.Timer
	expired bool
}

// timed returns c's timing, starting the deadline at the first question.
func (c *releaseClock) timed() *releaseTiming {
	if t := c.timing.Load(); t != nil {
		return t
	}
	t := &releaseTiming{deadline: clock() + ReleaseTimeout}
	if !c.timing.CompareAndSwap(nil, t) {
		return c.timing.Load()
	}
	return t
}

// deadline returns ReleaseTimeout after the first question about it.
func (c *releaseClock) deadline() (time.Time, bool) {
	return clockBase.Add(c.timed().deadline), true
}

// done returns a channel closed at the deadline.
func (c *releaseClock) done() <-chan struct{} {
	t := c.timed()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done == nil {
		t.done = make(chan struct{})
		if t.expired {
			close(t.done)
		} else {
			t.timer = time.AfterFunc(t.deadline-clock(), t.expire)
		}
	}
	return t.done
}

func (t *releaseTiming) expire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lockedExpire()
}

func (t *releaseTiming) lockedExpire() {
	if !t.expired {
		t.expired = true
		if t.done != nil {
			close(t.done)
		}
	}
}

// err returns context.DeadlineExceeded once the deadline has passed.
func (c *releaseClock) err() error {
	t := c.timing.Load()
	if t == nil {
		return nil // no deadline yet
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.expired && clock() >= t.deadline {
		t.lockedExpire()
	}
	if t.expired {
		return context.DeadlineExceeded
	}
	return nil
}

// stop ends the timer once every handle is released.
func (c *releaseClock) stop() {
	t := c.timing.Load()
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
	}
}
