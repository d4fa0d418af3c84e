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
	// group is the name of the outermost option group being applied, so a
	// registration made inside an extension's option names that option.
	group string
	// failed is set by an option made by [Failed]: what it would have
	// registered is missing, so Build reports the options' problems alone.
	failed bool
	// provided maps each type the container was given (dig's key, as
	// text) to where it was provided; plurals holds the names [Describe]
	// gave to types. Both serve the message about a type provided twice.
	provided map[string]string
	plurals  map[string]string

	// publishLimit bounds a Parallel Publish; onError makes Publish run in
	// the background (see strategy.go).
	publishLimit int
	onError      func(ctx context.Context, n any, err error)
	// notifGlobals are the global notification behaviors as registered,
	// notifGlobalsResolved as built (see notify.go).
	notifGlobals         []registry.Registration
	notifGlobalsResolved []globalNotificationBehavior
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

// providedByMediator is the source recorded for what Build itself puts in
// the container.
const providedByMediator = "the mediator itself"

// Build applies the options, resolves every constructor through the dig
// container and composes each message type's pipeline once. It reports every
// problem it finds in one *BuildError: a duplicate or missing handler, a
// constructor whose dependencies the container lacks, an option that failed.
// When an option made by [Failed] is among them (an extension refused its
// arguments, so what it would have registered is missing), the options'
// problems are reported alone and no constructor is called. After Build
// nothing can be registered. A Builder builds once.
//
// The container supplies the mediator being built as *Mediator, so a handler
// or behavior constructor can ask for it to Send or Publish from inside a
// handler; see [Mediator].
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
	b.provided = make(map[string]string)
	b.plurals = make(map[string]string)
	// m is handed to constructors now and filled in (and opened) when
	// everything is built.
	m := &Mediator{}
	var problems []error
	for _, p := range []any{func() *Lifecycle { return b.lifecycle }, func() *Mediator { return m }} {
		if err := b.provide(p, providedByMediator); err != nil {
			problems = append(problems, err)
		}
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
	if b.failed {
		return nil, &BuildError{Problems: problems}
	}

	globals := make([]globalBehavior, 0, len(b.globals))
	for _, g := range b.globals {
		v, err := resolve[GlobalBehavior](b.container, g, nil, "global behavior")
		if err != nil {
			problems = append(problems, err)
			continue
		}
		globals = append(globals, globalBehavior{GlobalBehavior: v, reg: g})
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

	for _, g := range b.notifGlobals {
		v, err := resolve[GlobalNotificationBehavior](b.container, g, nil, "global notification behavior")
		if err != nil {
			problems = append(problems, err)
			continue
		}
		b.notifGlobalsResolved = append(b.notifGlobalsResolved, globalNotificationBehavior{GlobalNotificationBehavior: v, reg: g})
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
			problems = append(problems, blame(&RegistrationError{By: inv.By, Source: inv.Source, Err: explain(err, false)}))
		}
	}

	problems = distinct(problems)
	if len(problems) > 0 {
		// Whatever constructors already started must be stopped again.
		if err := b.lifecycle.close(context.Background()); err != nil {
			problems = append(problems, err)
		}
		return nil, &BuildError{Problems: problems}
	}
	m.routes = registry.NewTable(routes)
	m.notifications = registry.NewTable(notifications)
	m.reg = b.reg
	m.container = b.container
	m.lifecycle = b.lifecycle
	m.onError = b.onError
	m.requireNH = b.requireNH
	// Publishes the fields above to every goroutine that loads the state.
	m.state.Store(stateOpen)
	return m, nil
}

// blame returns the *RegistrationError a constructor itself returned, when
// it did: an extension whose behavior fails because of another registration
// (a defaults option, say) names that one, and the message starts with it.
// Its Type is filled in from e when unset.
func blame(e *RegistrationError) *RegistrationError {
	var own *RegistrationError
	if !errors.As(e.Err, &own) {
		return e
	}
	if own.Type == nil {
		c := *own
		c.Type = e.Type
		own = &c
	}
	return own
}

// distinct drops a problem that reads the same as an earlier one: two
// checks of one extension (its provider resolved by two Invokes, say) that
// failed for the one reason.
func distinct(problems []error) []error {
	seen := make(map[string]bool, len(problems))
	kept := problems[:0]
	for _, p := range problems {
		if msg := p.Error(); !seen[msg] {
			seen[msg] = true
			kept = append(kept, p)
		}
	}
	return kept
}

// by names the registering function for a registration made now: fn, or
// the extension option being applied when fn was called from inside one.
func (b *Builder) by(fn string) string {
	if b.group != "" {
		return b.group
	}
	return fn
}

// provide puts constructor in the container and records, for each type it
// provides, that it came from source. A second constructor of a type fails
// with a *DuplicateServiceError naming both places.
func (b *Builder) provide(constructor any, source string, opts ...dig.ProvideOption) error {
	var info dig.ProvideInfo
	if err := b.container.Provide(constructor, append(opts, dig.FillProvideInfo(&info))...); err != nil {
		if key, ok := conflictKey(err); ok {
			first, known := b.provided[key]
			if !known {
				first = "an earlier registration"
			}
			return &DuplicateServiceError{Type: key, Plural: b.plurals[key], First: first, Second: source, err: err}
		}
		return fmt.Errorf("dig: %w", err)
	}
	for _, o := range info.Outputs {
		key := digKey(o.String())
		if _, ok := b.provided[key]; !ok {
			b.provided[key] = source
		}
	}
	return nil
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
	reg registry.Registration
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
// T only (dig.As), so its result can clash with nothing the application
// provides. Every failure is a *RegistrationError naming t (the message
// type, nil for a global behavior), the registering function and its line;
// dig's wrapping is taken off the cause (see explain). noun says what the
// registration is ("handler").
func resolve[T any](c scoper, r registry.Registration, t reflect.Type, noun string) (T, error) {
	var zero T
	fail := func(err error) (T, error) {
		return zero, blame(&RegistrationError{Type: t, By: r.By, Source: r.Source, Err: err})
	}
	if v, ok := r.Value.(T); ok {
		if isNil(r.Value) {
			return fail(fmt.Errorf("the %s is nil", noun))
		}
		return v, nil
	}
	want := reflect.TypeFor[T]()
	fn := reflect.ValueOf(r.Value)
	if !fn.IsValid() {
		return fail(fmt.Errorf("the %s is nil", noun))
	}
	ft := fn.Type()
	if ft.Kind() != reflect.Func {
		return fail(fmt.Errorf("%s is neither a %s nor a constructor returning one", ft, want))
	}
	if ft.NumOut() < 1 || ft.NumOut() > 2 || !ft.Out(0).AssignableTo(want) || (ft.NumOut() == 2 && ft.Out(1) != errorType) {
		return fail(fmt.Errorf("constructor %s must return %s (or a type implementing it), optionally with an error", ft, want))
	}
	if fn.IsNil() {
		return fail(fmt.Errorf("the %s constructor is a nil func", noun))
	}
	scope := c.Scope(noun)
	if err := scope.Provide(r.Value, dig.As(new(T))); err != nil {
		return fail(explain(err, true))
	}
	var result T
	if err := scope.Invoke(func(v T) { result = v }); err != nil {
		return fail(explain(err, true))
	}
	if isNil(result) {
		return fail(fmt.Errorf("the constructor returned a nil %s", want))
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
