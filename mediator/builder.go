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
	b.container = dig.New()
	b.lifecycle = &Lifecycle{}
	var problems []error
	if err := b.container.Provide(func() *Lifecycle { return b.lifecycle }); err != nil {
		problems = append(problems, err)
	}
	for _, o := range b.opts {
		if o == nil {
			problems = append(problems, errors.New("nil Option"))
			continue
		}
		if err := o.apply(b); err != nil {
			problems = append(problems, err)
		}
	}
	b.reg.Freeze()
	b.notifs.Freeze()

	globals := make([]globalBehavior, 0, len(b.globals))
	for _, g := range b.globals {
		v, err := resolve[GlobalBehavior](b.container, g, "GlobalBehavior")
		if err != nil {
			problems = append(problems, err)
			continue
		}
		globals = append(globals, globalBehavior{GlobalBehavior: v, source: g.Source})
	}

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
		route, err := c.compose(b, e, globals)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		routes[e.Key] = route
	}

	notifications := make(map[registry.Key]any, len(b.notifs.Entries()))
	for _, e := range b.notifs.Entries() {
		c := e.Compose.(composer)
		route, err := c.compose(b, e, nil)
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

type invoker interface {
	Invoke(function any, opts ...dig.InvokeOption) error
}

var errorType = reflect.TypeFor[error]()

// resolve turns a registration into a T: the value itself when it is a T, or
// the result of calling it as a constructor whose parameters the container
// supplies. A constructor returns T (or a type implementing it), optionally
// followed by an error.
func resolve[T any](c invoker, r registry.Registration, what string) (T, error) {
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
	ins := make([]reflect.Type, ft.NumIn())
	for i := range ins {
		ins[i] = ft.In(i)
	}
	var result T
	call := reflect.MakeFunc(reflect.FuncOf(ins, []reflect.Type{errorType}, ft.IsVariadic()), func(args []reflect.Value) []reflect.Value {
		var outs []reflect.Value
		if ft.IsVariadic() {
			outs = fn.CallSlice(args)
		} else {
			outs = fn.Call(args)
		}
		if len(outs) == 2 && !outs[1].IsNil() {
			return []reflect.Value{outs[1]}
		}
		if v, ok := outs[0].Interface().(T); ok && !isNil(outs[0].Interface()) {
			result = v
			return []reflect.Value{reflect.Zero(errorType)}
		}
		return []reflect.Value{reflect.ValueOf(fmt.Errorf("constructor returned a nil %s", want))}
	})
	if err := c.Invoke(call.Interface()); err != nil {
		return zero, fmt.Errorf("%s registered at %s: %w", what, r.Source, err)
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
