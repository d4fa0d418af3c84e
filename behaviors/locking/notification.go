package locking

import (
	"context"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// WithNotificationLocking makes the handlers of notifications of type N run
// only while N's lock is held: the notification counterpart of
// [WithDistributedLocking], which Go's type parameters keep for requests. N
// carries the [DistributedLock] marker and its tag, and names its key the
// same ways (LockKey, LockKeys, lock:"key" fields); configure functions
// adjust N's settings with the same precedence.
//
// The lock wraps the whole Publish (it is registered with
// mediator.WithNotificationBehavior): it is taken once, every handler runs
// while it is held (with any [mediator.PublishStrategy]), and it is released
// when the last handler has returned, failed or panicked. With throw=false a
// lock not had in time skips every handler and Publish returns nil; with
// throw=true Publish returns the *[Error]. A lock lost meanwhile cancels the
// handlers' context with cause [ErrLockLost], and Publish reports it.
// [FromContext] inside a handler gives the handle and its fencing token.
//
// Build fails as for WithDistributedLocking: no provider, a malformed tag.
func WithNotificationLocking[N mediator.Notifier](configure ...func(*Options)) mediator.Option {
	t := reflect.TypeFor[N]()
	name := "locking.WithNotificationLocking[" + t.String() + "]"
	if configure == nil {
		configure = []func(*Options){}
	}
	return mediator.Options(name,
		mediator.WithNotificationBehavior[N](func(d deps) (mediator.NotificationBehavior[N], error) {
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
			b, err := newBehavior[N, mediator.Unit](tl)
			if err != nil {
				return nil, err
			}
			return &notificationBehavior[N]{b}, nil
		}))
}

// notificationBehavior locks around the whole Publish of one notification
// type; it reuses the request behavior's key plan.
type notificationBehavior[N any] struct {
	*behavior[N, mediator.Unit]
}

// Handle takes n's lock(s), delivers n while holding them and gives them
// back however the delivery ends.
func (b *notificationBehavior[N]) Handle(ctx context.Context, n N, next mediator.NotificationNext[N]) error {
	s, err := b.scopeFor(ctx, &n)
	if err != nil {
		if err == errSkip {
			return nil
		}
		return err
	}
	defer s.exit()
	err = next(s.handlerContext(), n)
	if lost := s.finish(err); lost != nil {
		return lost
	}
	return err
}

// scopeFor takes the lock(s) of the message *req, as Handle does.
func (b *behavior[Req, Res]) scopeFor(ctx context.Context, req *Req) (*scope, error) {
	switch b.keys.source {
	case fromMethod:
		if b.keys.nilRecv && *(*unsafe.Pointer)(unsafe.Pointer(req)) == nil {
			return nil, b.keys.nilReceiver()
		}
		s := b.newScope(ctx)
		return b.enterScope(s, s.keyIn(b.keys.base, b.keys.appendWithPart(s.keyBuf[:0], b.single(*req))))
	case fromMethods:
		if b.keys.nilRecv && *(*unsafe.Pointer)(unsafe.Pointer(req)) == nil {
			return nil, b.keys.nilReceiver()
		}
		return b.enterMany(ctx, b.keys.many(b.multi(*req)))
	case fromFields:
		return b.enterFields(ctx, req)
	default:
		return b.enter(ctx, b.keys.base)
	}
}

// unguardedNotification is the Build error of a marked notification type
// with handlers that no WithNotificationLocking covers.
func unguardedNotification(n reflect.Type, handlerSource string) error {
	return fmt.Errorf("%s: WithNotificationHandler (at %s): locking: the type carries locking.DistributedLock but no locking behavior covers it, so its handlers would run without the lock: add locking.WithNotificationLocking[%s]()", n, handlerSource, n)
}
