package base

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Give-backs are the owner-compare deletions that must reach Redis even
// though the call that needed them failed: the grant of an acquisition whose
// reply was lost (the script may have run: an orphan grant would block the
// key for a whole lease), and a Release that Redis did not confirm (the key
// would stay blocked until its lease ran out). Each runs on a goroutine of
// its own, again and again with a short backoff, until Redis answers, the
// lease it undoes would have ended anyway, or the provider closes.

// giveBackMaxPause is the longest pause between two tries of a give-back:
// a Redis that answers again has its keys freed within about this much (plus
// go-redis's own pause between dials to a server that refused them).
const giveBackMaxPause = 200 * time.Millisecond

// giveBackMinPause is the first pause between two tries.
const giveBackMinPause = 10 * time.Millisecond

// GiveBacks runs and tracks the give-backs of one provider. Close stops
// them (after the try in flight) and waits for them.
type GiveBacks struct {
	// parent is the context of every try: the Redlock provider's, which
	// its Close cancels (its node calls end then), or Background.
	parent     context.Context
	tryTimeout time.Duration // bound of one try: Options.ReleaseTimeout

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	running sync.WaitGroup
}

// NewGiveBacks returns the give-backs of one provider: each try runs on a
// context derived from parent, bounded by tryTimeout.
func NewGiveBacks(parent context.Context, tryTimeout time.Duration) *GiveBacks {
	return &GiveBacks{parent: parent, tryTimeout: tryTimeout, closing: make(chan struct{})}
}

// Run calls try until it returns nil (Redis answered), until the lease it
// undoes would have ended (until), or until close, on a goroutine of its
// own. After close it makes one try on the caller's goroutine. Each try is
// bounded by tryTimeout and until.
func (g *GiveBacks) Run(until time.Time, try func(ctx context.Context) error) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		g.tryOnce(until, try)
		return
	}
	g.running.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.running.Done()
		pause := giveBackMinPause
		for {
			if g.tryOnce(until, try) == nil {
				return
			}
			wait := min(pause, time.Until(until))
			if wait <= 0 {
				return
			}
			t := time.NewTimer(wait)
			select {
			case <-g.closing:
				t.Stop()
				return
			case <-t.C:
			}
			pause = min(2*pause, giveBackMaxPause)
		}
	}()
}

func (g *GiveBacks) tryOnce(until time.Time, try func(ctx context.Context) error) error {
	ctx, cancel := context.WithDeadline(g.parent, Earliest(until, time.Now().Add(g.tryTimeout)))
	defer cancel()
	return try(ctx)
}

// Close stops the give-backs after their try in flight and waits for them.
func (g *GiveBacks) Close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.closing)
	}
	g.mu.Unlock()
	g.running.Wait()
}

// MayHaveRun reports whether a call that failed with err may still have
// been carried out by Redis: its request may have left (a reset, a timeout,
// a lost reply). A call that never left — the dial failed, the pool had no
// connection, the client is closed — or that Redis refused with an error
// reply did not run, and needs no give-back.
func MayHaveRun(err error) bool {
	if err == nil {
		return false
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return !errors.Is(err, goredis.ErrClosed) && !errors.Is(err, goredis.ErrPoolTimeout) &&
		!errors.Is(err, ErrEvictionPolicy) // the connection's check failed before the call
}

// Earliest returns the earlier of a and b.
func Earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
