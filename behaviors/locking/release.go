package locking

import (
	"context"
	"sync"
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
// that never looks (the memory provider's) costs no allocation: the context
// lives inside the scope.
type releaseContext struct {
	values context.Context

	mu       sync.Mutex
	deadline time.Duration // clock() + ReleaseTimeout; 0 until asked
	done     chan struct{}
	timer    *time.Timer
	expired  bool
}

func (c *releaseContext) startLocked() {
	if c.deadline == 0 {
		c.deadline = clock() + ReleaseTimeout
	}
}

// Deadline returns ReleaseTimeout after the first question about it.
func (c *releaseContext) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startLocked()
	return clockBase.Add(c.deadline), true
}

// Done returns a channel closed at the deadline.
func (c *releaseContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.startLocked()
		c.done = make(chan struct{})
		if c.expired {
			close(c.done)
		} else {
			c.timer = time.AfterFunc(c.deadline-clock(), c.expire)
		}
	}
	return c.done
}

func (c *releaseContext) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.expired {
		c.expired = true
		if c.done != nil {
			close(c.done)
		}
	}
}

// Err returns context.DeadlineExceeded once the deadline has passed.
func (c *releaseContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.expired && c.deadline != 0 && clock() >= c.deadline {
		c.expired = true
		if c.done != nil {
			close(c.done)
		}
	}
	if c.expired {
		return context.DeadlineExceeded
	}
	return nil
}

// Value returns the caller's values.
func (c *releaseContext) Value(key any) any { return c.values.Value(key) }

// stop ends the timer once every handle is released.
func (c *releaseContext) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
}
