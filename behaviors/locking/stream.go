package locking

import (
	"context"
	"fmt"
	"iter"
	"reflect"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// WithStreamLocking makes the stream of requests of type Req run while
// Req's lock is held: the stream counterpart of [WithDistributedLocking].
// Req carries the [DistributedLock] marker and its tag and names its key the
// same ways; configure functions adjust its settings with the same
// precedence.
//
// The lock is taken when the consumer starts ranging over the stream (not
// when mediator.Stream is called) and held until the range ends, however it
// ends: the handler's sequence is exhausted, it yields an error, the
// consumer breaks out of its loop, the context is cancelled, or something
// panics. Not had in time: with throw=true the stream yields one item, the
// zero T and the *[Error]; with throw=false it yields nothing and the
// handler is not called. A lock lost meanwhile cancels the handler's
// context with cause [ErrLockLost], and the stream ends with an item
// carrying an error that matches ErrLockLost (unless the consumer had
// already stopped). [FromContext] inside the handler's sequence gives the
// handle and its fencing token.
func WithStreamLocking[Req mediator.StreamMessage[T], T any](configure ...func(*Options)) mediator.Option {
	t := reflect.TypeFor[Req]()
	name := "locking.WithStreamLocking[" + t.String() + "]"
	if configure == nil {
		configure = []func(*Options){}
	}
	return mediator.Options(name,
		mediator.WithStreamBehavior[Req, T](func(d deps) (mediator.StreamBehavior[Req, T], error) {
			if err := d.check(name); err != nil {
				return nil, err
			}
			global, err := globalOptions(d.Defaults, nil, "WithDefaults")
			if err != nil {
				return nil, err
			}
			tl, err := resolve(t, global, configure, &d)
			if err != nil {
				return nil, err
			}
			b, err := newBehavior[Req, T](tl)
			if err != nil {
				return nil, err
			}
			return &streamBehavior[Req, T]{b}, nil
		}))
}

// streamBehavior holds a lock for the whole of a stream; it reuses the
// request behavior's key plan.
type streamBehavior[Req, T any] struct {
	*behavior[Req, T]
}

// Handle returns the stream that takes req's lock(s) when ranged over and
// gives them back when the range ends.
func (b *streamBehavior[Req, T]) Handle(ctx context.Context, req Req, next mediator.StreamNext[Req, T]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		s, err := b.scopeFor(ctx, &req)
		if err != nil {
			if err != errSkip {
				yield(zero, err)
			}
			return
		}
		defer s.exit()
		var last error
		stopped := false
		for v, err := range next(s.handlerContext(), req) {
			if err != nil {
				last = err
			}
			if !yield(v, err) {
				stopped = true
				break
			}
		}
		if lost := s.finish(last); lost != nil && !stopped {
			yield(zero, lost)
		}
	}
}

// unguardedStream is the Build error of a marked stream type that no
// WithStreamLocking covers.
func unguardedStream(req, item reflect.Type, handlerSource string) error {
	return fmt.Errorf("%s: WithStreamHandler (at %s): locking: the type carries locking.DistributedLock but no locking behavior covers it, so its stream would run without the lock: add locking.WithStreamLocking[%s, %s]()", req, handlerSource, req, item)
}
