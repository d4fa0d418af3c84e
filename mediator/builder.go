package mediator

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"go.uber.org/dig"

	"github.com/turbomediator/turbomediator-go/registry"
)

// Builder collects options and builds a [Mediator]. Use [NewBuilder] for the
// fluent form or [New] to pass every option at once.
type Builder struct {
	opts []Option
	// globalFailed is set when a global behavior could not be built: it
	// may have guarded types, so checkGuards stays quiet (see marker.go).
	globalFailed bool

	// Set while Build runs.
	reg       *registry.Registry
	container *dig.Container
	globals   []registry.Registration
	notifs    *registry.Registry
	invokes   []registry.Registration
	lifecycle *Lifecycle
	strategy  PublishStrategy
	requireNH bool
	built     bool
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{} }

// With adds options; they are applied by Build in the order given.
func (b *Builder) With(opts ...Option) *Builder {
	b.opts = append(b.opts, opts...)
	return b
}

// New builds a mediator from opts; it is NewBuilder().With(opts...).Build().
func New(opts ...Option) (*Mediator, error) { return NewBuilder().With(opts...).Build() }

// Build applies the options, resolves every constructor through the dig
// container and composes each message type's pipeline once. It reports every
// problem it finds in one *BuildError: a duplicate or missing handler, a
// constructor whose dependencies the container lacks, an option that failed.
// After Build nothing can be registered. A Builder builds once.
func (b *Builder) Build() (*Mediator, error) {
	if b.built {
		return nil, &BuildError{Problems: []error{errors.New("Build called twice on the same Builder")}}
	}
	b.built = true
	b.reg = registry.New()
	b.notifs = registry.New()
	// A panicking constructor becomes a Build error, like any other failure.
	b.container = dig.New(dig.RecoverFromPanics())
	b.lifecycle = &Lifecycle{}
	var problems []error
	if err := b.container.Provide(func() *Lifecycle { return b.lifecycle }); err != nil {
		problems = append(problems, err)
	}
	for i, o := range b.opts {
		if o == nil {
			problems = append(problems, fmt.Errorf("option %d of %d is nil", i+1, len(b.opts)))
			continue
		}
		if err := safely(o.String(), func() error { return o.apply(b) }); err != nil {
			problems = append(problems, err)
		}
	}
	b.reg.Freeze()
	b.notifs.Freeze()

	globals := make([]globalBehavior, 0, len(b.globals))
	for _, g := range b.globals {
		v, err := resolve[GlobalBehavior](b.container, g, "global behavior")
		if err != nil {
			problems = append(problems, err)
			continue
		}
		globals = append(globals, globalBehavior{GlobalBehavior: v, source: g.Source})
	}

	b.globalFailed = len(globals) < len(b.globals)
	routes := make(map[registry.Key]any, len(b.reg.Entries()))
	for _, e := range b.reg.Entries() {
		if e.Handler == nil {
			problems = append(problems, missingHandler(e))
			continue
		}
		c, ok := e.Compose.(composer)
		if !ok {
			problems = append(problems, fmt.Errorf("%s: no typed registration", e.Type))
			continue
		}
		var route any
		err := safely(e.Type.String(), func() (err error) {
			route, err = c.compose(b, e, globals)
			return err
		})
		if err != nil {
			problems = append(problems, err)
			continue
		}
		routes[e.Key] = route
	}

	notifications := make(map[registry.Key]any, len(b.notifs.Entries()))
	for _, e := range b.notifs.Entries() {
		c := e.Compose.(composer)
		var route any
		err := safely(e.Type.String(), func() (err error) {
			route, err = c.compose(b, e, nil)
			return err
		})
		if err != nil {
			problems = append(problems, err)
			continue
		}
		notifications[e.Key] = route
	}

	for _, inv := range b.invokes {
		if err := b.container.Invoke(inv.Value); err != nil {
			problems = append(problems, fmt.Errorf("Invoke at %s: %w", inv.Source, err))
		}
	}

	if len(problems) > 0 {
		// Whatever constructors already started must be stopped again.
		if err := b.lifecycle.close(context.Background()); err != nil {
			problems = append(problems, err)
		}
		return nil, &BuildError{Problems: problems}
	}
	return &Mediator{
		routes:        registry.NewTable(routes),
		notifications: registry.NewTable(notifications),
		reg:           b.reg,
		container:     b.container,
		lifecycle:     b.lifecycle,
		strategy:      b.strategy,
		requireNH:     b.requireNH,
	}, nil
}

// safely runs a step of Build and turns a panic in it (in an extension's
// option, a Selector, ...) into an error naming what was being built: Build
// reports problems, it does not panic.
func safely(what string, step func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: panic: %v", what, p)
		}
	}()
	return step()
}

func missingHandler(e *registry.Entry) error {
	var where string
	if len(e.Behaviors) > 0 {
		where = " (behaviors registered at " + e.Behaviors[0].Source + ")"
	}
	return fmt.Errorf("%w for %s: behaviors or options are registered for it%s but no handler", ErrNoHandler, e.Type, where)
}

// composer turns a type's registrations into its route at Build; it is
// implemented by generic types that know Req and Res.
type composer interface {
	compose(b *Builder, e *registry.Entry, globals []globalBehavior) (any, error)
}

type globalBehavior struct {
	GlobalBehavior
	source string
}

// Lifecycle lets constructors run in the container register clean-up that
// [Mediator.Close] runs, last registered first. Ask for *Lifecycle as a
// constructor parameter.
type Lifecycle struct {
	mu      sync.Mutex
	closers []func(context.Context) error
	closed  bool
}

// OnClose registers fn to run at Close.
func (l *Lifecycle) OnClose(fn func(ctx context.Context) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, fn)
}

func (l *Lifecycle) close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	closers := l.closers
	l.closers = nil
	l.mu.Unlock()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MessageType describes, while Build runs, the message type a per-type
// behavior is being built for. A behavior constructor registered with
// [WithBehavior] may take a MessageType parameter to read the options other
// registrations attached to its type with [WithMessageOption].
type MessageType struct {
	// Type is the static type of the message.
	Type  reflect.Type
	entry *registry.Entry
}

// Options returns the values registered for this type under key, in
// registration order. Options of one type are never visible to another.
func (t MessageType) Options(key any) []any {
	if t.entry == nil {
		return nil
	}
	return t.entry.Options(key)
}

// scoper is what resolve needs of a dig container or scope.
type scoper interface {
	Scope(name string, opts ...dig.ScopeOption) *dig.Scope
}

var errorType = reflect.TypeFor[error]()

// resolve turns a registration into a T: the value itself when it is a T, or
// the result of a constructor whose parameters the container supplies. A
// constructor returns T or a type implementing it, optionally followed by an
// error. It is handed to dig as it is, in a scope of its own and provided as
// T only (dig.As), so dig's errors name the user's constructor and where it
// was declared, and its result can clash with nothing the application
// provides.
func resolve[T any](c scoper, r registry.Registration, what string) (T, error) {
	var zero T
	if v, ok := r.Value.(T); ok {
		if isNil(r.Value) {
			return zero, fmt.Errorf("%s registered at %s is nil", what, r.Source)
		}
		return v, nil
	}
	want := reflect.TypeFor[T]()
	fn := reflect.ValueOf(r.Value)
	if !fn.IsValid() {
		return zero, fmt.Errorf("%s registered at %s is nil", what, r.Source)
	}
	ft := fn.Type()
	if ft.Kind() != reflect.Func {
		return zero, fmt.Errorf("%s registered at %s: %s is neither a %s nor a constructor returning one", what, r.Source, ft, want)
	}
	if ft.NumOut() < 1 || ft.NumOut() > 2 || !ft.Out(0).AssignableTo(want) || (ft.NumOut() == 2 && ft.Out(1) != errorType) {
		return zero, fmt.Errorf("%s registered at %s: constructor %s must return %s (or a type implementing it), optionally with an error", what, r.Source, ft, want)
	}
	if fn.IsNil() {
		return zero, fmt.Errorf("%s registered at %s is a nil func", what, r.Source)
	}
	scope := c.Scope(what)
	if err := scope.Provide(r.Value, dig.As(new(T))); err != nil {
		return zero, fmt.Errorf("%s registered at %s: %w", what, r.Source, err)
	}
	var result T
	if err := scope.Invoke(func(v T) { result = v }); err != nil {
		// dig reports "could not build arguments for" this little func
		// first; what follows names the user's constructor, so start there.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return zero, fmt.Errorf("%s registered at %s: %w", what, r.Source, err)
	}
	if isNil(result) {
		return zero, fmt.Errorf("%s registered at %s: constructor returned a nil %s", what, r.Source, want)
	}
	return result, nil
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
