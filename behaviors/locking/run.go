package locking

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// RunLocked runs fn while key is held on p, for code that does not go
// through Send: a cron job, a queue consumer, a migration. It keeps the
// behavior's rules:
//   - it waits up to timeout for key (0: one try); not had in time, fn is not
//     called and RunLocked returns an [*Error] matching [ErrNotAcquired]; a
//     provider failure matches [ErrUnavailable]; ctx ending first, ctx's error;
//   - fn gets a context that carries the lock ([FromContext] gives the handle
//     and its fencing token) and is cancelled with cause [ErrLockLost] when
//     the provider can no longer vouch for the lock; RunLocked then returns
//     an error matching ErrLockLost (and fn's own error, if any);
//   - the lock is released however fn ends (returns, fails, panics: the
//     panic goes on up), with a context the caller's cancellation cannot
//     reach;
//   - inside a handler or another RunLocked that holds key on the same
//     provider, key is borrowed, not waited for (re-entry).
//
// key is used as it is: no prefix is added.
func RunLocked(ctx context.Context, p Provider, key string, timeout time.Duration, fn func(ctx context.Context) error) error {
	if p == nil || isNilProvider(p) {
		return fmt.Errorf("locking: RunLocked %q: %w", key, ErrNoProvider)
	}
	if fn == nil {
		return fmt.Errorf("locking: RunLocked %q: fn is nil", key)
	}
	if timeout < 0 {
		return fmt.Errorf("locking: RunLocked %q: negative timeout %s", key, timeout)
	}
	l := &locker{provider: p, prefix: key, timeout: timeout, throw: true}
	if reflect.TypeOf(p).Comparable() {
		l.ident = p
	}
	s, err := l.enter(ctx, key)
	if err != nil {
		return err
	}
	defer s.exit()
	err = fn(s.handlerContext())
	if lost := s.finish(err); lost != nil {
		return lost
	}
	return err
}

func isNilProvider(p Provider) bool {
	v := reflect.ValueOf(p)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// Singleton runs a function on exactly one instance of a fleet at a time:
// every instance calls Run with the same Provider and Key, the one that
// holds the lock runs fn, the others wait for it (leader election on any
// provider). When the holder stops (its process dies and its lease runs
// out, its context ends, fn returns) or loses the lock (fn's context is
// cancelled with cause [ErrLockLost]), another instance takes over.
//
// A Singleton is configured by its fields and must not be changed while Run
// runs. The zero values of Wait and Backoff are the defaults.
type Singleton struct {
	// Provider grants the lock; required.
	Provider Provider
	// Key is the lock's key, used as it is; required.
	Key string
	// Wait is how long one attempt waits for the lock before trying again.
	// Default 30s. A provider that queues waiters (memory) or wakes them on
	// release (Redis) hands the lock over as soon as it is free.
	Wait time.Duration
	// Backoff is the pause before trying again after fn returned, the lock
	// was lost, the provider failed or Wait ran out. Default 1s.
	Backoff time.Duration
	// OnError, if set, receives what ended a term or an attempt: fn's
	// error, a loss (matching ErrLockLost), a provider failure (matching
	// ErrUnavailable). Contention and ctx's end are not reported. It is
	// called on Run's goroutine.
	OnError func(err error)
}

// Default settings of a [Singleton].
const (
	DefaultSingletonWait    = 30 * time.Second
	DefaultSingletonBackoff = time.Second
)

// Run takes part in the election until ctx ends, running fn whenever this
// instance holds the lock; fn should run until its context ends (a periodic
// job loops on a ticker). fn's context carries the lock, as for
// [RunLocked]. When fn returns, the lock is released and, after Backoff,
// this instance campaigns again, so a fn that returns at once does not keep
// the lock from the others. Run returns ctx's cause (context.Canceled,
// say) once ctx has ended and fn, if running, has returned; it returns at
// once an error for a Singleton without Provider, Key or fn.
func (s *Singleton) Run(ctx context.Context, fn func(ctx context.Context) error) error {
	switch {
	case s.Provider == nil || isNilProvider(s.Provider):
		return fmt.Errorf("locking: Singleton: %w", ErrNoProvider)
	case s.Key == "":
		return errors.New("locking: Singleton: Key is empty")
	case fn == nil:
		return errors.New("locking: Singleton: fn is nil")
	case s.Wait < 0 || s.Backoff < 0:
		return errors.New("locking: Singleton: negative Wait or Backoff")
	}
	wait, backoff := s.Wait, s.Backoff
	if wait == 0 {
		wait = DefaultSingletonWait
	}
	if backoff == 0 {
		backoff = DefaultSingletonBackoff
	}
	for {
		err := RunLocked(ctx, s.Provider, s.Key, wait, fn)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		// Contention is the normal lot of a standby; the pause after it
		// keeps a provider that answers at once from being asked in a loop.
		if err != nil && !errors.Is(err, ErrNotAcquired) && s.OnError != nil {
			s.OnError(err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}
