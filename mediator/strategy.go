package mediator

import (
	"context"
	"fmt"
	"runtime/debug"
)

// PublishStrategy says how Publish runs the handlers of one notification.
// [WithMaxPublishConcurrency] bounds [Parallel]; [WithBackgroundPublish]
// moves any strategy off the caller's goroutine.
type PublishStrategy int

const (
	// Sequential runs the handlers one after another in registration order,
	// all of them even when one fails, and joins their errors. The default.
	// A panic in a handler goes on up to the caller of Publish.
	Sequential PublishStrategy = iota
	// Parallel runs every handler in its own goroutine (or in at most the
	// bound of [WithMaxPublishConcurrency]), waits for all, and joins their
	// errors in registration order; a panic becomes a *PanicError.
	Parallel
	// StopOnFirstError runs the handlers one after another in registration
	// order and stops at the first that fails: Publish returns that error
	// alone, and the handlers after it are not called. A panic goes on up.
	StopOnFirstError
)

// String returns "Sequential", "Parallel" or "StopOnFirstError".
func (s PublishStrategy) String() string {
	switch s {
	case Sequential:
		return "Sequential"
	case Parallel:
		return "Parallel"
	case StopOnFirstError:
		return "StopOnFirstError"
	}
	return fmt.Sprintf("PublishStrategy(%d)", int(s))
}

// WithPublishStrategy sets how Publish runs handlers (default [Sequential]).
// An unknown strategy fails Build.
func WithPublishStrategy(s PublishStrategy) Option {
	src := callerSource()
	return newOption("WithPublishStrategy("+s.String()+")", src, func(b *Builder) error {
		if s != Sequential && s != Parallel && s != StopOnFirstError {
			return fmt.Errorf("unknown %s", s)
		}
		b.strategy = s
		return nil
	})
}

// WithMaxPublishConcurrency bounds a [Parallel] Publish: at most n handlers
// of one Publish run at the same time, in n goroutines that take the
// handlers in registration order. n must be at least 1; 1 runs the handlers
// one at a time but still turns a panic into a *PanicError. It has no effect
// on the other strategies.
func WithMaxPublishConcurrency(n int) Option {
	src := callerSource()
	return newOption(fmt.Sprintf("WithMaxPublishConcurrency(%d)", n), src, func(b *Builder) error {
		if n < 1 {
			return fmt.Errorf("the bound must be at least 1, got %d", n)
		}
		b.publishLimit = n
		return nil
	})
}

// WithBackgroundPublish makes Publish fire and forget: it returns nil as
// soon as the delivery has started on a goroutine of its own, which runs
// the notification behaviors and handlers with the [PublishStrategy] as a
// Publish on the caller's goroutine would. The caller's context is passed
// on without its cancellation or deadline (its values stay, except those
// of [CallerLocal] keys: a lock the caller holds is not lent to the
// delivery), since the caller usually returns before the handlers end.
//
// onError receives the delivery's error (joined, or the first with
// [StopOnFirstError]; a panic as a *PanicError, which with the sequential
// strategies ends the delivery) with the notification and
// the context the handlers got. It is called on the delivery's goroutine,
// so it must be safe for concurrent use, and it must not panic.
//
// [Mediator.Close] refuses further Publishes, waits for the deliveries
// already started and their callbacks, then runs the clean-up. A nil
// onError fails Build.
func WithBackgroundPublish(onError func(ctx context.Context, n any, err error)) Option {
	src := callerSource()
	return newOption("WithBackgroundPublish", src, func(b *Builder) error {
		if onError == nil {
			return fmt.Errorf("the error callback is nil: pass a func that logs or counts the errors")
		}
		b.onError = onError
		return nil
	})
}

// publishBackground starts one background delivery of n, unless Close has
// been called. Holding bgMu's read side while adding to bg means Close,
// which takes the write side to close the mediator, never waits on bg while
// a delivery is being added.
func publishBackground[N any](ctx context.Context, m *Mediator, r *notificationRoute[N], n N) error {
	m.bgMu.RLock()
	if m.state.Load() != stateOpen {
		m.bgMu.RUnlock()
		return m.unusable()
	}
	m.bg.Add(1)
	m.bgMu.RUnlock()
	ctx = backgroundContext{context.WithoutCancel(ctx)}
	go func() {
		defer m.bg.Done()
		if err := publishRecovered(ctx, r, n); err != nil {
			m.onError(ctx, n, err)
		}
	}()
	return nil
}

// CallerLocal is implemented by context keys whose values belong to the
// call that put them in the context and must not outlive it: a lock the
// caller holds, say (the locking package's key is one). A background
// Publish passes the caller's context on without them, so a delivery that
// runs after the caller returned cannot borrow what the caller has given
// back.
type CallerLocal interface {
	CallerLocal()
}

// backgroundContext hides the values of CallerLocal keys.
type backgroundContext struct{ context.Context }

// Value answers nil for a CallerLocal key and passes other keys on.
func (c backgroundContext) Value(key any) any {
	if _, ok := key.(CallerLocal); ok {
		return nil
	}
	return c.Context.Value(key)
}

// publishRecovered runs one delivery and turns a panic into a *PanicError.
func publishRecovered[N any](ctx context.Context, r *notificationRoute[N], n N) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return r.publish(ctx, n)
}

// waitBackground waits for the background deliveries, or for ctx to end.
// The goroutine that waits ends with the last delivery.
func (m *Mediator) waitBackground(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		m.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mediator: close: waiting for background publishes: %w", context.Cause(ctx))
	}
}
