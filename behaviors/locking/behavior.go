package locking

import (
	"context"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// behavior locks around the handling of one message type, Req.
type behavior[Req, Res any] struct {
	*typeLock
	// single and multi call LockKey / LockKeys as plain functions taking Req,
	// found once at Build, so the message is never boxed into an interface
	// (which would allocate a copy per Send).
	single func(Req) string
	multi  func(Req) []string
}

func newBehavior[Req, Res any](tl *typeLock) (*behavior[Req, Res], error) {
	b := &behavior[Req, Res]{typeLock: tl}
	t := reflect.TypeFor[Req]()
	var ok bool
	switch tl.keys.source {
	case fromMethod:
		m, _ := t.MethodByName("LockKey")
		if b.single, ok = m.Func.Interface().(func(Req) string); !ok {
			return nil, fmt.Errorf("locking: %s: cannot call its LockKey method", t)
		}
	case fromMethods:
		m, _ := t.MethodByName("LockKeys")
		if b.multi, ok = m.Func.Interface().(func(Req) []string); !ok {
			return nil, fmt.Errorf("locking: %s: cannot call its LockKeys method", t)
		}
	}
	return b, nil
}

// Guards tells the mediator that this behavior covers the DistributedLock
// marker of its type.
func (b *behavior[Req, Res]) Guards(guard string, _ reflect.Type) bool { return guard == guardName }

// Handle takes the message's lock(s), runs next while holding them and gives
// them back however next ends.
func (b *behavior[Req, Res]) Handle(ctx context.Context, req Req, next mediator.Next[Req, Res]) (Res, error) {
	var s *scope
	var err error
	switch b.keys.source {
	case fromMethod:
		if b.keys.nilRecv && *(*unsafe.Pointer)(unsafe.Pointer(&req)) == nil {
			err = b.keys.nilReceiver()
			break
		}
		s = b.newScope(ctx)
		s, err = b.enterScope(s, s.keyIn(b.keys.base, b.keys.appendWithPart(s.keyBuf[:0], b.single(req))))
	case fromMethods:
		if b.keys.nilRecv && *(*unsafe.Pointer)(unsafe.Pointer(&req)) == nil {
			err = b.keys.nilReceiver()
			break
		}
		s, err = b.enterMany(ctx, b.keys.many(b.multi(req)))
	case fromFields:
		s, err = b.enterFields(ctx, &req)
	default:
		s, err = b.enter(ctx, b.keys.base)
	}
	if err != nil {
		var zero Res
		if err == errSkip {
			return zero, nil
		}
		return zero, err
	}
	return run(s, req, next)
}

// enterFields takes the key of a message with lock:"key" fields. Plain
// fields are read from the caller's copy, into the scope's key buffer;
// Stringer fields need a heap copy, made by boxing it once.
func (b *behavior[Req, Res]) enterFields(ctx context.Context, req *Req) (*scope, error) {
	if b.keys.stringers {
		key, err := b.keys.fromBoxed(*req)
		if err != nil {
			return nil, err
		}
		return b.enter(ctx, key)
	}
	p := unsafe.Pointer(req)
	if b.keys.pointer {
		p = *(*unsafe.Pointer)(p)
	}
	s := b.newScope(ctx)
	return b.enterScope(s, s.keyIn(b.keys.base, b.keys.appendPlainStruct(s.keyBuf[:0], p)))
}

// run calls next inside s. The deferred exit releases the locks when next
// panics; the panic then goes on up.
func run[Req, Res any](s *scope, req Req, next func(context.Context, Req) (Res, error)) (Res, error) {
	defer s.exit()
	res, err := next(s.handlerContext(), req)
	if lost := s.finish(err); lost != nil {
		var zero Res
		return zero, lost
	}
	return res, err
}
