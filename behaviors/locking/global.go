package locking

import (
	"context"
	"reflect"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// globalBehavior locks every message type carrying the DistributedLock
// marker that has no per-type registration of its own.
type globalBehavior struct {
	options Options
	deps    *deps
	types   map[reflect.Type]*typeLock // filled at Build, read-only after
	// byDefault maps the base prefix of each type locked here under its
	// default prefix (its name) to the type, to catch two of one name.
	byDefault map[string]reflect.Type
}

// AppliesTo selects the marked types and resolves their settings; a bad tag
// fails Build. Types without the marker are not wrapped, so they pay nothing.
func (g *globalBehavior) AppliesTo(mt mediator.MessageType) (bool, error) {
	if len(mt.Options(registrationKey{})) > 0 {
		return false, nil // its own WithDistributedLocking locks it
	}
	spec, err := inspect(mt.Type)
	if !spec.hasMarker {
		return false, nil // not locked here: its key sources do not matter
	}
	if err != nil {
		return false, err
	}
	tl, err := resolve(mt.Type, g.options, nil, g.deps)
	if err != nil {
		return false, err
	}
	if base, byDefault := basePrefix(spec, g.options, nil); byDefault {
		if other, ok := g.byDefault[base]; ok && !sameStruct(other, mt.Type) {
			return false, &PrefixCollisionError{Prefix: base, First: fullName(other), Second: fullName(mt.Type)}
		}
		g.byDefault[base] = mt.Type
		perType, err := globalOptions(g.deps.Defaults, nil, "locking.WithDistributedLocking")
		if err == nil {
			for _, c := range g.deps.Claims {
				if !sameStruct(c.t, mt.Type) && c.defaultPrefix(perType) == base {
					return false, &PrefixCollisionError{Prefix: base, First: fullName(c.t), FirstSource: c.source, Second: fullName(mt.Type)}
				}
			}
		}
	}
	g.types[mt.Type] = tl
	return true, nil
}

// Guards tells the mediator that every type carrying the DistributedLock
// marker is covered: locked here, or by its own WithDistributedLocking.
func (g *globalBehavior) Guards(guard string, _ reflect.Type) bool { return guard == guardName }

// Handle locks req's key(s) around next.
func (g *globalBehavior) Handle(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
	tl := g.types[reflect.TypeOf(req)]
	if tl == nil {
		return next(ctx, req)
	}
	var s *scope
	var err error
	switch {
	case tl.keys.nilRecv && isNilBoxed(req):
		err = tl.keys.nilReceiver()
	case tl.keys.source == fromMethod:
		s, err = tl.enter(ctx, tl.keys.withPart(req.(KeyProvider).LockKey()))
	case tl.keys.source == fromMethods:
		s, err = tl.enterMany(ctx, tl.keys.many(req.(MultiKeyProvider).LockKeys()))
	case tl.keys.source == fromFields:
		var key string
		if key, err = tl.keys.fromBoxed(req); err == nil {
			s, err = tl.enter(ctx, key)
		}
	default:
		s, err = tl.enter(ctx, tl.keys.base)
	}
	if err != nil {
		if err == errSkip {
			// The typed wrapper around a global behavior turns a nil any
			// into the zero response.
			return nil, nil
		}
		return nil, err
	}
	return run(s, req, next)
}

// unlocked is the behavior of WithoutLocking: it covers the marker and
// wraps no type.
type unlocked struct{}

func (unlocked) Guards(guard string, _ reflect.Type) bool { return guard == guardName }

func (unlocked) AppliesTo(mediator.MessageType) (bool, error) { return false, nil }

func (unlocked) Handle(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
	return next(ctx, req)
}

// WithoutLocking builds a mediator whose handlers of types carrying the
// [DistributedLock] marker run without any lock, on purpose: to show what
// the lock prevents (the bank sample's -no-lock), or to test a handler alone
// (see also [WithNoOpLocking]). Without it, such a type with no locking
// behavior fails Build. It adds nothing to any pipeline.
func WithoutLocking() mediator.Option {
	return mediator.Options("locking.WithoutLocking", mediator.WithGlobalBehavior(unlocked{}))
}
