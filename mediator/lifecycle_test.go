package mediator_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// client stands for a connection a constructor opens and Close must close.
type client struct{ name string }

func TestCloseRunsClosersInReverseOnce(t *testing.T) {
	var closed []string
	opener := func(name string) func(*mediator.Lifecycle) *client {
		return func(lc *mediator.Lifecycle) *client {
			lc.OnClose(func(context.Context) error {
				closed = append(closed, name)
				return nil
			})
			return &client{name: name}
		}
	}
	type cacheClient struct{ *client }
	m := mustNew(t,
		mediator.Provide(opener("database")),
		mediator.Provide(func(lc *mediator.Lifecycle, db *client) cacheClient {
			c := opener("cache")(lc)
			return cacheClient{c}
		}),
		mediator.WithHandler[ping, string](func(lc *mediator.Lifecycle, c cacheClient) pingHandler {
			lc.OnClose(func(context.Context) error {
				closed = append(closed, "handler")
				return nil
			})
			return pingHandler{greeting: c.name}
		}),
	)
	if got, err := mediator.Send(context.Background(), m, ping{Name: "x"}); err != nil || got != "cache x" {
		t.Fatalf("Send = %q, %v", got, err)
	}
	if len(closed) != 0 {
		t.Fatalf("closers ran before Close: %v", closed)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatalf("Close = %v", err)
	}
	// Built database, then cache, then the handler: closed the other way round.
	if got := fmt.Sprint(closed); got != "[handler cache database]" {
		t.Errorf("closed %s; want [handler cache database]", got)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
	if got := fmt.Sprint(closed); got != "[handler cache database]" {
		t.Errorf("after a second Close: %s; want every closer run once", got)
	}
}

func TestCloseJoinsCloserErrorsAndRunsThemAll(t *testing.T) {
	errA, errB := errors.New("a failed"), errors.New("b failed")
	var ran []string
	m := mustNew(t, mediator.WithHandler[ping, string](func(lc *mediator.Lifecycle) pingHandler {
		lc.OnClose(func(context.Context) error { ran = append(ran, "a"); return errA })
		lc.OnClose(func(context.Context) error { ran = append(ran, "ok"); return nil })
		lc.OnClose(func(context.Context) error { ran = append(ran, "b"); return errB })
		return pingHandler{}
	}))
	err := m.Close(context.Background())
	if !errors.Is(err, errA) || !errors.Is(err, errB) || err.Error() != "b failed\na failed" {
		t.Fatalf("Close = %q; want %q", err, "b failed\na failed")
	}
	if got := fmt.Sprint(ran); got != "[b ok a]" {
		t.Errorf("ran %s; want [b ok a]", got)
	}
}

func TestCloseGetsTheCallersContext(t *testing.T) {
	var got any
	m := mustNew(t, mediator.WithHandler[ping, string](func(lc *mediator.Lifecycle) pingHandler {
		lc.OnClose(func(ctx context.Context) error { got = ctx.Value(ctxKey{}); return nil })
		return pingHandler{}
	}))
	if err := m.Close(context.WithValue(context.Background(), ctxKey{}, "shutdown")); err != nil {
		t.Fatal(err)
	}
	if got != "shutdown" {
		t.Errorf("closer saw %v; want the context given to Close", got)
	}
}

func TestFailedBuildClosesWhatConstructorsOpened(t *testing.T) {
	var closed []string
	opt, at := mediator.WithBehavior[orphan, int](passOrphan), here()
	be := buildError(t,
		mediator.Provide(func(lc *mediator.Lifecycle) *client {
			lc.OnClose(func(context.Context) error { closed = append(closed, "client"); return nil })
			return &client{name: "c"}
		}),
		mediator.WithHandler[ping, string](func(c *client) pingHandler { return pingHandler{greeting: c.name} }),
		opt, // a behavior for a type with no handler: Build fails after the client was opened
	)
	if !errors.Is(be, mediator.ErrNoHandler) || len(be.Problems) != 1 {
		t.Fatalf("Build = %v; want only the missing handler registered at %s", be, at)
	}
	if got := fmt.Sprint(closed); got != "[client]" {
		t.Errorf("closed %s; want [client]: a failed Build must not leak what it opened", got)
	}
}

func TestFailedBuildReportsCloserErrors(t *testing.T) {
	errClose := errors.New("close failed")
	be := buildError(t,
		mediator.WithHandler[ping, string](func(lc *mediator.Lifecycle) pingHandler {
			lc.OnClose(func(context.Context) error { return errClose })
			return pingHandler{}
		}),
		mediator.WithBehavior[orphan, int](passOrphan),
	)
	if !errors.Is(be, errClose) || !errors.Is(be, mediator.ErrNoHandler) || len(be.Problems) != 2 {
		t.Fatalf("Build = %v; want the missing handler and the closer's error", be)
	}
}

func TestInvokeReachesTheContainer(t *testing.T) {
	m := mustNew(t, mediator.Provide(func() *client { return &client{name: "shared"} }))
	var name string
	if err := m.Invoke(func(c *client) { name = c.name }); err != nil || name != "shared" {
		t.Fatalf("Invoke = %v, saw %q; want nil, %q", err, name, "shared")
	}
	err := m.Invoke(func(*store) {})
	if err == nil || err.Error()[:len("mediator: invoke: ")] != "mediator: invoke: " {
		t.Fatalf("Invoke with a missing type = %v; want a mediator: invoke: error", err)
	}
}

func TestInvokeOptionRunsAtEndOfBuild(t *testing.T) {
	errUnreachable := errors.New("server unreachable")
	opt, at := mediator.Invoke(func(*client) error { return errUnreachable }), here()
	be := buildError(t, mediator.Provide(func() *client { return &client{} }), opt)
	if !errors.Is(be, errUnreachable) {
		t.Fatalf("Build = %v; want the Invoke's error", be)
	}
	if want := "mediator: build: Invoke (at " + at + "): server unreachable"; be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}
