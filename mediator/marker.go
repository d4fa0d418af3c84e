package mediator

import (
	"reflect"

	"github.com/turbomediator/turbomediator-go/registry"
)

// Guarded is implemented by a message marker that must never reach its
// handler unguarded, such as locking.DistributedLock. Build fails for a
// request type with a handler that carries a Guarded marker (embedded at any
// depth, wherever Go promotes its method) unless one of its per-type
// behaviors, or one of the global behaviors, is a [Guardian] of the marker's
// guard. The marker's package writes the error, in its own words.
type Guarded interface {
	MediatorGuard() Guard
}

// Guard is what a [Guarded] marker requires of the pipeline.
type Guard struct {
	// Name identifies the guard ("locking.DistributedLock"); a [Guardian]
	// matches on it.
	Name string
	// Unguarded returns the Build error of request type req, answered with
	// res, whose handler was registered at handlerSource ("file:line"), when
	// no behavior guards it.
	Unguarded func(req, res reflect.Type, handlerSource string) error
}

// Guardian is implemented by a behavior that enforces a guard. Build asks
// the per-type behaviors of a guarded request type, and every global
// behavior whether or not it applies to the type (a global behavior may
// leave a type to a per-type one, or waive the guard on purpose).
type Guardian interface {
	Guards(guard string, t reflect.Type) bool
}

var guardedType = reflect.TypeFor[Guarded]()

// checkGuards fails Build for a request type carrying a Guarded marker that
// none of its behaviors, per-type or global, guards. When a global behavior
// could not be built, its failure is the problem to report, not a guess.
func checkGuards[Req, Res any](b *Builder, e *registry.Entry, behaviors []Behavior[Req, Res], globals []globalBehavior) error {
	if b.globalFailed {
		return nil
	}
	g, ok := guardOf(e.Type)
	if !ok || g.Unguarded == nil {
		return nil
	}
	for _, bh := range behaviors {
		if gd, ok := bh.(Guardian); ok && gd.Guards(g.Name, e.Type) {
			return nil
		}
	}
	for _, gb := range globals {
		if gd, ok := gb.GlobalBehavior.(Guardian); ok && gd.Guards(g.Name, e.Type) {
			return nil
		}
	}
	return g.Unguarded(e.Type, reflect.TypeFor[Res](), e.Handler.Source)
}

// guardOf returns the guard of t's Guarded marker. It calls MediatorGuard on
// a fresh value of the embedded type that declares it, never through t's
// embedded pointers, which may be nil.
func guardOf(t reflect.Type) (Guard, bool) {
	if !t.Implements(guardedType) {
		return Guard{}, false
	}
	for range 64 {
		st := t
		if st.Kind() == reflect.Pointer {
			st = st.Elem()
		}
		var next reflect.Type
		if st.Kind() == reflect.Struct {
			for i := range st.NumField() {
				f := st.Field(i)
				if f.Anonymous && (f.Type.Implements(guardedType) || reflect.PointerTo(f.Type).Implements(guardedType)) {
					next = f.Type
					break
				}
			}
		}
		if next == nil {
			v := reflect.New(st) // *st has the methods of both receivers
			g, ok := v.Interface().(Guarded)
			if !ok {
				return Guard{}, false
			}
			return g.MediatorGuard(), true
		}
		t = next
	}
	return Guard{}, false
}
