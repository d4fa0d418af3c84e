package mediator_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/registry"
)

// buildError builds with opts, expects a failure and returns it as a
// *BuildError.
func buildError(t *testing.T, opts ...mediator.Option) *mediator.BuildError {
	t.Helper()
	var (
		m   *mediator.Mediator
		err error
	)
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("Build panicked: %v", p)
			}
		}()
		m, err = mediator.New(opts...)
	}()
	if err == nil {
		t.Fatal("Build succeeded; want an error")
	}
	if m != nil {
		t.Error("Build returned a mediator along with its error")
	}
	var be *mediator.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build error %T (%v) is not a *BuildError", err, err)
	}
	return be
}

func TestDuplicateHandlerNamesBothRegistrations(t *testing.T) {
	first, firstAt := mediator.WithHandler[ping, string](pingHandler{}), here()
	second, secondAt := mediator.WithHandler[ping, string](pingHandler{}), here()
	be := buildError(t, first, second)

	var dup *registry.DuplicateError
	if !errors.As(be, &dup) {
		t.Fatalf("errors.As(%v, *registry.DuplicateError) = false", be)
	}
	if dup.First != firstAt || dup.Second != secondAt || dup.Type.String() != "mediator_test.ping" {
		t.Errorf("DuplicateError = {%v, %q, %q}; want {mediator_test.ping, %q, %q}", dup.Type, dup.First, dup.Second, firstAt, secondAt)
	}
	want := "mediator: build: WithHandler[mediator_test.ping] (at " + secondAt + "): " +
		"registry: duplicate handler for mediator_test.ping: registered at " + firstAt + " and again at " + secondAt
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

func TestPointerAndValueHandlersAreNotDuplicates(t *testing.T) {
	mustNew(t,
		mediator.WithHandler[ping, string](pingHandler{}),
		mediator.WithHandler[*ping, string](func(context.Context, *ping) (string, error) { return "", nil }),
	)
}

type ledger struct{}

func TestConstructorWithMissingDependencyFailsBuild(t *testing.T) {
	opt, at := mediator.WithHandler[deposit, int64](func(*ledger) *depositHandler { return nil }), here()
	be := buildError(t, opt)
	want := "mediator: build: mediator_test.deposit: WithHandler (at " + at + "): the constructor needs *mediator_test.ledger, which nothing provides: add a constructor of it with mediator.Provide"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
	var re *mediator.RegistrationError
	if !errors.As(be, &re) || re.Type != reflect.TypeFor[deposit]() || re.By != "WithHandler" || re.Source != at {
		t.Errorf("RegistrationError = %+v; want deposit, WithHandler, %s", re, at)
	}
}

// TestAMissingDependencyOfADependencyNamesTheChain: the handler needs a
// store whose constructor needs a ledger nobody provides. The message says
// so in those words, with the store constructor's line, and no dig layer.
func TestAMissingDependencyOfADependencyNamesTheChain(t *testing.T) {
	provide, provideAt := mediator.Provide(func(*ledger) *store { return &store{} }), here()
	handler, handlerAt := mediator.WithHandler[deposit, int64](func(s *store) *depositHandler { return &depositHandler{s} }), here()
	be := buildError(t, provide, handler)
	want := "mediator: build: mediator_test.deposit: WithHandler (at " + handlerAt + "): the constructor needs *mediator_test.store, whose constructor (" +
		provideAt + ") needs *mediator_test.ledger, which nothing provides: add a constructor of it with mediator.Provide"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

func TestConstructorErrorFailsBuild(t *testing.T) {
	errNoDatabase := errors.New("no database")
	opt, at := mediator.WithHandler[deposit, int64](func() (*depositHandler, error) { return nil, errNoDatabase }), here()
	be := buildError(t, opt)
	if !errors.Is(be, errNoDatabase) {
		t.Fatalf("errors.Is(%v, errNoDatabase) = false", be)
	}
	// The constructor's own error, after the type and the registration:
	// nothing of dig's ("received non-nil error from function ...").
	want := "mediator: build: mediator_test.deposit: WithHandler (at " + at + "): no database"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

func TestConstructorReturningNilFailsBuild(t *testing.T) {
	opt, at := mediator.WithHandler[deposit, int64](func() *depositHandler { return nil }), here()
	be := buildError(t, opt)
	want := "mediator: build: mediator_test.deposit: WithHandler (at " + at +
		"): the constructor returned a nil mediator.Handler[github.com/turbomediator/turbomediator-go/mediator_test.deposit,int64]"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

func TestProvideErrorFailsBuild(t *testing.T) {
	errNoConfig := errors.New("no config")
	provide, provideAt := mediator.Provide(func() (*store, error) { return nil, errNoConfig }), here()
	handler, handlerAt := mediator.WithHandler[deposit, int64](func(s *store) *depositHandler { return &depositHandler{s} }), here()
	be := buildError(t, provide, handler)
	if !errors.Is(be, errNoConfig) {
		t.Fatalf("errors.Is(%v, errNoConfig) = false", be)
	}
	want := "mediator: build: mediator_test.deposit: WithHandler (at " + handlerAt + "): the constructor needs *mediator_test.store, whose constructor (" +
		provideAt + ") failed: no config"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

func TestAPanickingDependencyFailsBuild(t *testing.T) {
	provide := mediator.Provide(func() *store { panic("store exploded") })
	handler, handlerAt := mediator.WithHandler[deposit, int64](func(s *store) *depositHandler { return &depositHandler{s} }), here()
	be := buildError(t, provide, handler)
	want := "mediator: build: mediator_test.deposit: WithHandler (at " + handlerAt + "): the constructor needs *mediator_test.store, whose constructor panicked: store exploded"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

func TestAServiceProvidedTwiceNamesBothRegistrations(t *testing.T) {
	first, firstAt := mediator.Provide(func() *store { return &store{} }), here()
	second, secondAt := mediator.Provide(func() *store { return &store{} }), here()
	be := buildError(t, first, second)
	want := "mediator: build: two constructors of *mediator_test.store: registered at " + firstAt + " and at " + secondAt + ": keep one"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
	var dup *mediator.DuplicateServiceError
	if !errors.As(be, &dup) || dup.First != firstAt || dup.Second != secondAt {
		t.Errorf("DuplicateServiceError = %+v", dup)
	}
}

func TestDescribeNamesAServiceProvidedTwice(t *testing.T) {
	first, firstAt := mediator.Provide(func() *store { return &store{} }), here()
	second, secondAt := mediator.Provide(func() *store { return &store{} }), here()
	be := buildError(t, mediator.Describe[*store]("stores"), first, second)
	want := "mediator: build: two stores: registered at " + firstAt + " and at " + secondAt + ": keep one"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

func TestProvidingTheMediatorFailsBuild(t *testing.T) {
	opt, at := mediator.Provide(func() *mediator.Mediator { return nil }), here()
	be := buildError(t, opt)
	want := "mediator: build: *mediator.Mediator (provided at " + at + ") is provided by the mediator itself: ask for it as a parameter instead"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

// TestAFailedOptionIsReportedAlone: an extension refused its arguments, so
// what it would have registered is missing; the constructors that needed it
// are not called and no second, false problem follows.
func TestAFailedOptionIsReportedAlone(t *testing.T) {
	called := false
	failed, at := mediator.Failed("ext.WithThing", errors.New("bad address")), here()
	be := buildError(t, failed,
		mediator.WithHandler[deposit, int64](func(*ledger) *depositHandler { called = true; return nil }))
	want := "mediator: build: ext.WithThing (at " + at + "): bad address"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
	if called {
		t.Error("a constructor ran after an option had failed")
	}
}

func TestProvideOfANonFunctionFailsBuild(t *testing.T) {
	opt, at := mediator.Provide(42), here()
	be := buildError(t, opt)
	want := "mediator: build: Provide (at " + at + "): dig: must provide constructor function, got 42 (type int)"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

type orphan struct {
	mediator.Command[int]
}

func TestBehaviorsWithoutHandlerFailBuild(t *testing.T) {
	opt, at := mediator.WithBehavior[orphan, int](passOrphan), here()
	be := buildError(t, opt, mediator.WithHandler[ping, string](pingHandler{}))
	if !errors.Is(be, mediator.ErrNoHandler) {
		t.Errorf("errors.Is(%v, ErrNoHandler) = false", be)
	}
	want := "mediator: build: mediator: no handler for mediator_test.orphan: behaviors or options are registered for it (behaviors registered at " + at + ") but no handler"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

func passOrphan(ctx context.Context, o orphan, next mediator.Next[orphan, int]) (int, error) {
	return next(ctx, o)
}

type optionKey struct{}

func TestMessageOptionsWithoutHandlerFailBuild(t *testing.T) {
	be := buildError(t, mediator.WithMessageOption[orphan](optionKey{}, 1))
	want := "mediator: build: mediator: no handler for mediator_test.orphan: behaviors or options are registered for it but no handler"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

func TestSeveralProblemsAreReportedTogether(t *testing.T) {
	first, firstAt := mediator.WithHandler[ping, string](pingHandler{}), here()
	second, secondAt := mediator.WithHandler[ping, string](pingHandler{}), here()
	strategy, strategyAt := mediator.WithPublishStrategy(mediator.PublishStrategy(7)), here()
	orphanBehavior, orphanAt := mediator.WithBehavior[orphan, int](passOrphan), here()
	badHandler, badAt := mediator.WithHandler[deposit, int64](42), here()

	be := buildError(t, first, nil, second, strategy, orphanBehavior, badHandler)
	want := []string{
		"option 2 of 6 is nil",
		"WithHandler[mediator_test.ping] (at " + secondAt + "): registry: duplicate handler for mediator_test.ping: registered at " + firstAt + " and again at " + secondAt,
		"WithPublishStrategy(PublishStrategy(7)) (at " + strategyAt + "): unknown PublishStrategy(7)",
		"mediator: no handler for mediator_test.orphan: behaviors or options are registered for it (behaviors registered at " + orphanAt + ") but no handler",
		"mediator_test.deposit: WithHandler (at " + badAt + "): int is neither a mediator.Handler[github.com/turbomediator/turbomediator-go/mediator_test.deposit,int64] nor a constructor returning one",
	}
	if len(be.Problems) != len(want) {
		t.Fatalf("%d problems; want %d:\n%v", len(be.Problems), len(want), be)
	}
	for i, p := range be.Problems {
		if p.Error() != want[i] {
			t.Errorf("problem %d =\n%s\nwant\n%s", i+1, p, want[i])
		}
	}
	wantMsg := "mediator: build: 5 problems:\n\t- " + strings.Join(want, "\n\t- ")
	if be.Error() != wantMsg {
		t.Errorf("error =\n%s\nwant\n%s", be, wantMsg)
	}
	var dup *registry.DuplicateError
	if !errors.As(be, &dup) || !errors.Is(be, mediator.ErrNoHandler) {
		t.Error("errors.As/Is do not reach the individual problems")
	}
}

// TestBuildNeverPanics feeds Build every malformed registration we could
// think of; each must come back as an error naming the registration.
func TestBuildNeverPanics(t *testing.T) {
	var nilHandlerFunc mediator.HandlerFunc[ping, string]
	var nilPlainFunc func(context.Context, ping) (string, error)
	var nilHandlerPtr *depositHandler
	const pingHandlerType = "mediator.Handler[github.com/turbomediator/turbomediator-go/mediator_test.ping,string]"
	cases := []struct {
		name string
		opt  func() (mediator.Option, string)
		want string // %s is replaced by the registration site
	}{
		{"nil option", func() (mediator.Option, string) { return nil, "" }, "option 1 of 1 is nil"},
		{"nil handler", func() (mediator.Option, string) { return mediator.WithHandler[ping, string](nil), here() },
			"mediator_test.ping: WithHandler (at %s): the handler is nil"},
		{"nil HandlerFunc", func() (mediator.Option, string) {
			return mediator.WithHandler[ping, string](nilHandlerFunc), here()
		}, "mediator_test.ping: WithHandler (at %s): the handler is nil"},
		{"nil plain func", func() (mediator.Option, string) {
			return mediator.WithHandler[ping, string](nilPlainFunc), here()
		}, "mediator_test.ping: WithHandler (at %s): constructor func(context.Context, mediator_test.ping) (string, error) must return " + pingHandlerType + " (or a type implementing it), optionally with an error"},
		{"nil handler pointer", func() (mediator.Option, string) {
			return mediator.WithHandler[deposit, int64](nilHandlerPtr), here()
		}, "mediator_test.deposit: WithHandler (at %s): the handler is nil"},
		{"a number", func() (mediator.Option, string) { return mediator.WithHandler[ping, string](42), here() },
			"mediator_test.ping: WithHandler (at %s): int is neither a " + pingHandlerType + " nor a constructor returning one"},
		{"a struct that is not a handler", func() (mediator.Option, string) {
			return mediator.WithHandler[ping, string](store{}), here()
		}, "mediator_test.ping: WithHandler (at %s): mediator_test.store is neither a " + pingHandlerType + " nor a constructor returning one"},
		{"a handler of another type", func() (mediator.Option, string) {
			return mediator.WithHandler[ping, string](&depositHandler{}), here()
		}, "mediator_test.ping: WithHandler (at %s): *mediator_test.depositHandler is neither a " + pingHandlerType + " nor a constructor returning one"},
		{"constructor returning nothing", func() (mediator.Option, string) {
			return mediator.WithHandler[ping, string](func() {}), here()
		}, "mediator_test.ping: WithHandler (at %s): constructor func() must return " + pingHandlerType + " (or a type implementing it), optionally with an error"},
		{"constructor returning the wrong type", func() (mediator.Option, string) {
			return mediator.WithHandler[ping, string](func(*store) int { return 0 }), here()
		}, "mediator_test.ping: WithHandler (at %s): constructor func(*mediator_test.store) int must return " + pingHandlerType + " (or a type implementing it), optionally with an error"},
		{"constructor with a non-error second result", func() (mediator.Option, string) {
			return mediator.WithHandler[ping, string](func() (pingHandler, string) { return pingHandler{}, "" }), here()
		}, "mediator_test.ping: WithHandler (at %s): constructor func() (mediator_test.pingHandler, string) must return " + pingHandlerType + " (or a type implementing it), optionally with an error"},
		{"constructor with three results", func() (mediator.Option, string) {
			return mediator.WithHandler[ping, string](func() (pingHandler, error, error) { return pingHandler{}, nil, nil }), here()
		}, "mediator_test.ping: WithHandler (at %s): constructor func() (mediator_test.pingHandler, error, error) must return " + pingHandlerType + " (or a type implementing it), optionally with an error"},
		{"nil behavior", func() (mediator.Option, string) {
			return mediator.Options("pair", mediator.WithHandler[ping, string](pingHandler{}), mediator.WithBehavior[ping, string](nil)), here()
		}, "mediator_test.ping: pair (at %s): the behavior is nil"},
		{"behavior that is a handler", func() (mediator.Option, string) {
			return mediator.Options("pair", mediator.WithHandler[ping, string](pingHandler{}), mediator.WithBehavior[ping, string](pingHandler{})), here()
		}, "mediator_test.ping: pair (at %s): mediator_test.pingHandler is neither a mediator.Behavior[github.com/turbomediator/turbomediator-go/mediator_test.ping,string] nor a constructor returning one"},
		{"nil global behavior", func() (mediator.Option, string) { return mediator.WithGlobalBehavior(nil), here() },
			"WithGlobalBehavior (at %s): the global behavior is nil"},
		{"nil notification handler", func() (mediator.Option, string) {
			return mediator.WithNotificationHandler[accountOpened](nil), here()
		}, "mediator_test.accountOpened: WithNotificationHandler (at %s): the notification handler is nil"},
		{"nil option in a group", func() (mediator.Option, string) { return mediator.Options("extension", nil), "" },
			"extension: option 1 of 1 is nil"},
		{"panicking constructor", func() (mediator.Option, string) {
			return mediator.WithHandler[ping, string](func() pingHandler { panic("constructor exploded") }), here()
		}, "mediator_test.ping: WithHandler (at %s): the constructor panicked: constructor exploded"},
		{"panicking selector", func() (mediator.Option, string) {
			return mediator.Options("pair", mediator.WithHandler[ping, string](pingHandler{}), mediator.WithGlobalBehavior(panickySelector{})), ""
		}, "mediator_test.ping: panic: selector exploded"},
		{"failed extension option", func() (mediator.Option, string) {
			return mediator.Failed("redis.WithRedisDistributedLocking", errors.New("bad address")), here()
		}, "redis.WithRedisDistributedLocking (at %s): bad address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opt, at := c.opt()
			be := buildError(t, opt)
			want := "mediator: build: " + strings.ReplaceAll(c.want, "%s", at)
			got := be.Error()
			if strings.HasSuffix(want, "in func: ") {
				// dig names the panicking function and where it is declared.
				got = got[:min(len(got), len(want))]
			}
			if got != want {
				t.Errorf("error =\n%s\nwant\n%s", be, want)
			}
		})
	}
}

type panickySelector struct{}

func (panickySelector) Handle(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
	return next(ctx, req)
}

func (panickySelector) AppliesTo(mediator.MessageType) (bool, error) { panic("selector exploded") }

func TestBuilderBuildsOnce(t *testing.T) {
	b := mediator.NewBuilder().With(mediator.WithHandler[ping, string](pingHandler{}))
	if _, err := b.Build(); err != nil {
		t.Fatal(err)
	}
	_, err := b.Build()
	if want := "mediator: build: Build called twice on the same Builder"; err == nil || err.Error() != want {
		t.Fatalf("second Build: %v; want %q", err, want)
	}
}

func TestFluentBuilderAppliesOptionsInOrder(t *testing.T) {
	// Options are applied at Build in the order given, so the second handler is
	// the duplicate whatever the number of With calls.
	first, firstAt := mediator.WithHandler[ping, string](pingHandler{}), here()
	second, secondAt := mediator.WithHandler[ping, string](pingHandler{}), here()
	_, err := mediator.NewBuilder().With(first).With().With(second).Build()
	var dup *registry.DuplicateError
	if !errors.As(err, &dup) || dup.First != firstAt || dup.Second != secondAt {
		t.Fatalf("Build = %v; want a duplicate first at %s, again at %s", err, firstAt, secondAt)
	}
}

// TestAConstructorCanBlameAnotherRegistration: an extension's behavior that
// fails because of another of its options returns a *RegistrationError
// naming that option; Build reports it as it is, with the message type.
func TestAConstructorCanBlameAnotherRegistration(t *testing.T) {
	opt, at := mediator.WithBehavior[ping, string](func() (mediator.Behavior[ping, string], error) {
		return nil, &mediator.RegistrationError{By: "ext.WithDefaults", Source: "app/wire.go:12", Err: errors.New("negative timeout")}
	}), here()
	be := buildError(t, mediator.WithHandler[ping, string](pingHandler{}), opt)
	want := "mediator: build: mediator_test.ping: ext.WithDefaults (at app/wire.go:12): negative timeout"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s (not the behavior's line %s)", be, want, at)
	}
}
