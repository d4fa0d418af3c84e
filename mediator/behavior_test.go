package mediator_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// trace records the way in and out of each behavior of a pipeline.
type trace struct{ steps []string }

func (tr *trace) String() string { return strings.Join(tr.steps, " ") }

func typed(tr *trace, name string) mediator.BehaviorFunc[ping, string] {
	return func(ctx context.Context, p ping, next mediator.Next[ping, string]) (string, error) {
		tr.steps = append(tr.steps, ">"+name)
		r, err := next(ctx, p)
		tr.steps = append(tr.steps, "<"+name)
		return r, err
	}
}

func global(tr *trace, name string) mediator.GlobalBehaviorFunc {
	return func(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
		tr.steps = append(tr.steps, ">"+name)
		r, err := next(ctx, req)
		tr.steps = append(tr.steps, "<"+name)
		return r, err
	}
}

func tracedHandler(tr *trace) mediator.HandlerFunc[ping, string] {
	return func(_ context.Context, p ping) (string, error) {
		tr.steps = append(tr.steps, "handler")
		return "pong " + p.Name, nil
	}
}

func TestBehaviorOrderGlobalOutermostThenPerTypeInRegistrationOrder(t *testing.T) {
	tr := &trace{}
	// Registered interleaved on purpose: the groups, not the interleaving,
	// decide the order.
	m := mustNew(t,
		mediator.WithBehavior[ping, string](typed(tr, "t1")),
		mediator.WithGlobalBehavior(global(tr, "g1")),
		mediator.WithHandler[ping, string](tracedHandler(tr)),
		mediator.WithBehavior[ping, string](typed(tr, "t2")),
		mediator.WithGlobalBehavior(global(tr, "g2")),
		mediator.WithBehavior[ping, string](typed(tr, "t3")),
	)
	got, err := mediator.Send(context.Background(), m, ping{Name: "x"})
	if err != nil || got != "pong x" {
		t.Fatalf("Send = %q, %v", got, err)
	}
	if want := ">g1 >g2 >t1 >t2 >t3 handler <t3 <t2 <t1 <g2 <g1"; tr.String() != want {
		t.Errorf("order:\n%s\nwant\n%s", tr, want)
	}
}

type ctxKey struct{}

func TestBehaviorPassesChangedContextAndRequest(t *testing.T) {
	enrich := mediator.BehaviorFunc[ping, string](func(ctx context.Context, p ping, next mediator.Next[ping, string]) (string, error) {
		p.Name = strings.ToUpper(p.Name)
		return next(context.WithValue(ctx, ctxKey{}, "tenant-7"), p)
	})
	m := mustNew(t,
		mediator.WithBehavior[ping, string](enrich),
		mediator.WithHandler[ping, string](func(ctx context.Context, p ping) (string, error) {
			tenant, _ := ctx.Value(ctxKey{}).(string)
			return tenant + "/" + p.Name, nil
		}),
	)
	got, err := mediator.Send(context.Background(), m, ping{Name: "ann"})
	if err != nil || got != "tenant-7/ANN" {
		t.Fatalf("Send = %q, %v; want %q", got, err, "tenant-7/ANN")
	}
}

func TestBehaviorMayShortCircuitAndChangeTheResponse(t *testing.T) {
	errDenied := errors.New("denied")
	called := false
	m := mustNew(t,
		mediator.WithBehavior[ping, string](func(ctx context.Context, p ping, next mediator.Next[ping, string]) (string, error) {
			if p.Name == "mallory" {
				return "", errDenied
			}
			r, err := next(ctx, p)
			return r + "!", err
		}),
		mediator.WithHandler[ping, string](func(_ context.Context, p ping) (string, error) {
			called = true
			return "hi " + p.Name, nil
		}),
	)
	ctx := context.Background()
	if got, err := mediator.Send(ctx, m, ping{Name: "mallory"}); err != errDenied || got != "" || called {
		t.Errorf("Send(mallory) = %q, %v, handler called %v; want \"\", denied, false", got, err, called)
	}
	if got, err := mediator.Send(ctx, m, ping{Name: "bob"}); err != nil || got != "hi bob!" {
		t.Errorf("Send(bob) = %q, %v; want %q", got, err, "hi bob!")
	}
}

// auditLog is a service a behavior constructor asks the container for.
type auditLog struct{ lines []string }

type auditBehavior struct{ log *auditLog }

func (a auditBehavior) Handle(ctx context.Context, p ping, next mediator.Next[ping, string]) (string, error) {
	a.log.lines = append(a.log.lines, "audit "+p.Name)
	return next(ctx, p)
}

func TestBehaviorConstructorGetsDependencies(t *testing.T) {
	log := &auditLog{}
	m := mustNew(t,
		mediator.Provide(func() *auditLog { return log }),
		mediator.WithHandler[ping, string](pingHandler{greeting: "hi"}),
		mediator.WithBehavior[ping, string](func(l *auditLog) auditBehavior { return auditBehavior{l} }),
	)
	if got, err := mediator.Send(context.Background(), m, ping{Name: "zoe"}); err != nil || got != "hi zoe" {
		t.Fatalf("Send = %q, %v", got, err)
	}
	if got := fmt.Sprint(log.lines); got != "[audit zoe]" {
		t.Errorf("audit log %s; want [audit zoe]", got)
	}
}

func TestBehaviorConstructorsRunInRegistrationOrder(t *testing.T) {
	var built []string
	ctor := func(name string) func() mediator.Behavior[ping, string] {
		return func() mediator.Behavior[ping, string] {
			built = append(built, name)
			return typed(&trace{}, name)
		}
	}
	mustNew(t,
		mediator.WithHandler[ping, string](pingHandler{}),
		mediator.WithBehavior[ping, string](ctor("first")),
		mediator.WithBehavior[ping, string](ctor("second")),
		mediator.WithBehavior[ping, string](ctor("third")),
	)
	if got := fmt.Sprint(built); got != "[first second third]" {
		t.Errorf("constructors ran %s; want [first second third]", got)
	}
}

type timing struct {
	mediator.Query[int]
}

func TestGlobalBehaviorValueAndConstructorApplyToEveryType(t *testing.T) {
	tr := &trace{}
	m := mustNew(t,
		mediator.Provide(func() *trace { return tr }),
		mediator.WithGlobalBehavior(global(tr, "value")),
		mediator.WithGlobalBehavior(func(tr *trace) mediator.GlobalBehavior { return global(tr, "ctor") }),
		mediator.WithGlobalBehavior(func(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
			tr.steps = append(tr.steps, fmt.Sprintf("plain(%T)", req))
			return next(ctx, req)
		}),
		mediator.WithHandler[ping, string](pingHandler{greeting: "hi"}),
		mediator.WithHandler[timing, int](func(context.Context, timing) (int, error) { return 5, nil }),
	)
	ctx := context.Background()
	if got, err := mediator.Send(ctx, m, ping{Name: "a"}); err != nil || got != "hi a" {
		t.Fatalf("Send(ping) = %q, %v", got, err)
	}
	if got, err := mediator.Send(ctx, m, timing{}); err != nil || got != 5 {
		t.Fatalf("Send(timing) = %d, %v", got, err)
	}
	want := ">value >ctor plain(mediator_test.ping) <ctor <value >value >ctor plain(mediator_test.timing) <ctor <value"
	if tr.String() != want {
		t.Errorf("trace:\n%s\nwant\n%s", tr, want)
	}
}

// onlyFor is a global behavior that applies to the types it names.
type onlyFor struct {
	tr    *trace
	types []reflect.Type
	asked *[]string
}

func (o onlyFor) Handle(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
	o.tr.steps = append(o.tr.steps, fmt.Sprintf("selected(%T)", req))
	return next(ctx, req)
}

func (o onlyFor) AppliesTo(t mediator.MessageType) (bool, error) {
	*o.asked = append(*o.asked, t.Type.String())
	for _, want := range o.types {
		if t.Type == want {
			return true, nil
		}
	}
	return false, nil
}

func TestSelectorSkipsTypesItDoesNotSelect(t *testing.T) {
	tr := &trace{}
	var asked []string
	m := mustNew(t,
		mediator.WithHandler[ping, string](pingHandler{greeting: "hi"}),
		mediator.WithHandler[timing, int](func(context.Context, timing) (int, error) { return 5, nil }),
		mediator.WithGlobalBehavior(onlyFor{tr: tr, types: []reflect.Type{reflect.TypeFor[timing]()}, asked: &asked}),
	)
	ctx := context.Background()
	if _, err := mediator.Send(ctx, m, ping{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mediator.Send(ctx, m, timing{}); err != nil {
		t.Fatal(err)
	}
	if want := "selected(mediator_test.timing)"; tr.String() != want {
		t.Errorf("trace %q; want %q", tr, want)
	}
	if got := fmt.Sprint(asked); got != "[mediator_test.ping mediator_test.timing]" {
		t.Errorf("AppliesTo asked for %s; want each type once, at Build", got)
	}
}

type failingSelector struct{}

func (failingSelector) Handle(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
	return next(ctx, req)
}

func (failingSelector) AppliesTo(mediator.MessageType) (bool, error) {
	return false, errors.New("cannot decide")
}

func TestSelectorErrorFailsBuild(t *testing.T) {
	opt, at := mediator.WithGlobalBehavior(failingSelector{}), here()
	be := buildError(t, opt, mediator.WithHandler[ping, string](pingHandler{}))
	want := "mediator: build: mediator_test.ping: WithGlobalBehavior (at " + at + "): cannot decide"
	if be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}

func TestGlobalBehaviorMustPassOnTheSameType(t *testing.T) {
	m := mustNew(t,
		mediator.WithGlobalBehavior(func(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
			return next(ctx, "not a ping")
		}),
		mediator.WithHandler[ping, string](pingHandler{}),
	)
	got, err := mediator.Send(context.Background(), m, ping{})
	if want := "mediator: a global behavior passed on a string where mediator_test.ping was sent"; err == nil || err.Error() != want || got != "" {
		t.Fatalf("Send = %q, %v; want \"\", %q", got, err, want)
	}
}

func TestGlobalBehaviorMayChangeRequestAndContext(t *testing.T) {
	m := mustNew(t,
		mediator.WithGlobalBehavior(func(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
			if p, ok := req.(ping); ok {
				p.Name += "?"
				req = p
			}
			return next(context.WithValue(ctx, ctxKey{}, "from global"), req)
		}),
		mediator.WithHandler[ping, string](func(ctx context.Context, p ping) (string, error) {
			return fmt.Sprint(ctx.Value(ctxKey{}), " ", p.Name), nil
		}),
	)
	got, err := mediator.Send(context.Background(), m, ping{Name: "who"})
	if err != nil || got != "from global who?" {
		t.Fatalf("Send = %q, %v; want %q", got, err, "from global who?")
	}
}

// lockSettings is an option key that only this test's behavior reads.
type lockSettings struct{}

type other struct {
	mediator.Command[int]
}

type third struct {
	mediator.Command[int]
}

func TestMessageTypeOptionsNeverLeakToAnotherType(t *testing.T) {
	seen := map[string][]any{}
	selectorSaw := map[string][]any{}
	record := func(mt mediator.MessageType) {
		seen[mt.Type.String()] = mt.Options(lockSettings{})
	}
	zero := func(context.Context, other) (int, error) { return 0, nil }
	m := mustNew(t,
		mediator.WithMessageOption[ping](lockSettings{}, "ping-1"),
		mediator.WithMessageOption[other](lockSettings{}, "other-1"),
		mediator.WithMessageOption[ping](lockSettings{}, "ping-2"),
		mediator.WithMessageOption[ping](optionKey{}, "belongs to another behavior"),
		mediator.WithHandler[ping, string](pingHandler{}),
		mediator.WithHandler[other, int](zero),
		mediator.WithHandler[third, int](func(context.Context, third) (int, error) { return 0, nil }),
		mediator.WithBehavior[ping, string](func(mt mediator.MessageType) mediator.Behavior[ping, string] {
			record(mt)
			return typed(&trace{}, "p")
		}),
		mediator.WithBehavior[other, int](func(mt mediator.MessageType) mediator.BehaviorFunc[other, int] {
			record(mt)
			return func(ctx context.Context, o other, next mediator.Next[other, int]) (int, error) { return next(ctx, o) }
		}),
		mediator.WithBehavior[third, int](func(mt mediator.MessageType) mediator.BehaviorFunc[third, int] {
			record(mt)
			return func(ctx context.Context, o third, next mediator.Next[third, int]) (int, error) { return next(ctx, o) }
		}),
		mediator.WithGlobalBehavior(selectorFunc(func(mt mediator.MessageType) (bool, error) {
			selectorSaw[mt.Type.String()] = mt.Options(lockSettings{})
			return false, nil
		})),
	)
	_ = m
	want := map[string]string{
		"mediator_test.ping":  "[ping-1 ping-2]",
		"mediator_test.other": "[other-1]",
		"mediator_test.third": "[]",
	}
	for typ, w := range want {
		if got := fmt.Sprint(seen[typ]); got != w {
			t.Errorf("behavior of %s saw options %s; want %s", typ, got, w)
		}
		if got := fmt.Sprint(selectorSaw[typ]); got != w {
			t.Errorf("selector for %s saw options %s; want %s", typ, got, w)
		}
	}
	if got := fmt.Sprint(mediator.MessageType{}.Options(lockSettings{})); got != "[]" {
		t.Errorf("zero MessageType has options %s", got)
	}
}

type selectorFunc func(mediator.MessageType) (bool, error)

func (f selectorFunc) Handle(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
	return next(ctx, req)
}

func (f selectorFunc) AppliesTo(mt mediator.MessageType) (bool, error) { return f(mt) }
