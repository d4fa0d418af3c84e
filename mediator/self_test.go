package mediator_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// A handler constructor asks for *mediator.Mediator and gets the very
// mediator Build returns: its handler sends another request and publishes a
// notification through it.

type openAccount struct {
	mediator.Command[string]
	ID string
}

type openAccountHandler struct{ m *mediator.Mediator }

func (h openAccountHandler) Handle(ctx context.Context, c openAccount) (string, error) {
	greeting, err := mediator.Send(ctx, h.m, ping{Name: c.ID})
	if err != nil {
		return "", err
	}
	return greeting, mediator.Publish(ctx, h.m, accountOpened{ID: c.ID})
}

func TestAHandlerConstructorGetsTheMediator(t *testing.T) {
	r := &recorder{}
	var got *mediator.Mediator
	m := mustNew(t,
		mediator.WithHandler[ping, string](pingHandler{greeting: "hello"}),
		mediator.WithHandler[openAccount, string](func(m *mediator.Mediator) openAccountHandler {
			got = m
			return openAccountHandler{m: m}
		}),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "audit", nil)),
	)
	if got != m {
		t.Fatalf("the constructor got %p, Build returned %p", got, m)
	}
	res, err := mediator.Send(context.Background(), m, openAccount{ID: "42"})
	if err != nil || res != "hello 42" {
		t.Fatalf("Send = %q, %v; want \"hello 42\"", res, err)
	}
	if seen := r.list(); len(seen) != 1 || seen[0] != "audit:42" {
		t.Fatalf("notification handlers saw %v; want [audit:42]", seen)
	}
}

func TestBehaviorAndNotificationHandlerConstructorsGetTheMediator(t *testing.T) {
	r := &recorder{}
	var fromBehavior, fromNotification *mediator.Mediator
	m := mustNew(t,
		mediator.WithHandler[ping, string](pingHandler{greeting: "hi"}),
		mediator.WithBehavior[ping, string](func(m *mediator.Mediator) mediator.BehaviorFunc[ping, string] {
			fromBehavior = m
			return func(ctx context.Context, p ping, next mediator.Next[ping, string]) (string, error) {
				if err := mediator.Publish(ctx, m, accountOpened{ID: p.Name}); err != nil {
					return "", err
				}
				return next(ctx, p)
			}
		}),
		mediator.WithNotificationHandler[accountOpened](func(m *mediator.Mediator) mediator.NotificationHandlerFunc[accountOpened] {
			fromNotification = m
			return recordAs(r, "seen", nil)
		}),
	)
	if fromBehavior != m || fromNotification != m {
		t.Fatalf("constructors got %p and %p, Build returned %p", fromBehavior, fromNotification, m)
	}
	if _, err := mediator.Send(context.Background(), m, ping{Name: "7"}); err != nil {
		t.Fatal(err)
	}
	if seen := r.list(); len(seen) != 1 || seen[0] != "seen:7" {
		t.Fatalf("notification handlers saw %v; want [seen:7]", seen)
	}
}

// TestASendDuringBuildIsErrNotBuilt: the mediator a constructor receives
// answers once Build has returned it; earlier it says so, without a panic.
func TestASendDuringBuildIsErrNotBuilt(t *testing.T) {
	var during error
	mustNew(t,
		mediator.WithHandler[ping, string](pingHandler{}),
		mediator.WithHandler[openAccount, string](func(m *mediator.Mediator) openAccountHandler {
			_, during = mediator.Send(context.Background(), m, ping{})
			return openAccountHandler{m: m}
		}),
	)
	if !errors.Is(during, mediator.ErrNotBuilt) {
		t.Fatalf("Send during Build = %v; want ErrNotBuilt", during)
	}
}

// TestTheMediatorOfAFailedBuildAnswersErrNotBuilt: a constructor may keep
// the mediator it got; when Build fails, that mediator never opens.
func TestTheMediatorOfAFailedBuildAnswersErrNotBuilt(t *testing.T) {
	var kept *mediator.Mediator
	_, err := mediator.New(
		mediator.WithHandler[ping, string](func(m *mediator.Mediator) pingHandler { kept = m; return pingHandler{} }),
		mediator.WithHandler[deposit, int64](func() (*depositHandler, error) { return nil, errors.New("no database") }),
	)
	if err == nil || kept == nil {
		t.Fatalf("Build = %v, constructor ran: %v; want a failed Build after the constructor ran", err, kept != nil)
	}
	if _, err := mediator.Send(context.Background(), kept, ping{}); !errors.Is(err, mediator.ErrNotBuilt) {
		t.Errorf("Send = %v; want ErrNotBuilt", err)
	}
	if err := mediator.Publish(context.Background(), kept, accountOpened{}); !errors.Is(err, mediator.ErrNotBuilt) {
		t.Errorf("Publish = %v; want ErrNotBuilt", err)
	}
	if err := kept.Close(context.Background()); !errors.Is(err, mediator.ErrNotBuilt) {
		t.Errorf("Close = %v; want ErrNotBuilt", err)
	}
}

// TestANilMediatorIsAnErrorNeverAPanic: Send, Publish, Close and Invoke on
// a nil *Mediator answer ErrNilMediator, and the handler does not run.
func TestANilMediatorIsAnErrorNeverAPanic(t *testing.T) {
	var m *mediator.Mediator
	ctx := context.Background()
	if _, err := mediator.Send(ctx, m, ping{}); !errors.Is(err, mediator.ErrNilMediator) {
		t.Errorf("Send = %v; want ErrNilMediator", err)
	}
	if err := mediator.Publish(ctx, m, accountOpened{}); !errors.Is(err, mediator.ErrNilMediator) {
		t.Errorf("Publish = %v; want ErrNilMediator", err)
	}
	if err := m.Close(ctx); !errors.Is(err, mediator.ErrNilMediator) {
		t.Errorf("Close = %v; want ErrNilMediator", err)
	}
	if err := m.Invoke(func() {}); !errors.Is(err, mediator.ErrNilMediator) {
		t.Errorf("Invoke = %v; want ErrNilMediator", err)
	}
	if want := "mediator: nil *Mediator: use the one New or Build returned"; mediator.ErrNilMediator.Error() != want {
		t.Errorf("ErrNilMediator = %q; want %q", mediator.ErrNilMediator, want)
	}
}

func TestAMediatorMadeByHandIsNotBuilt(t *testing.T) {
	m := &mediator.Mediator{}
	if _, err := mediator.Send(context.Background(), m, ping{}); !errors.Is(err, mediator.ErrNotBuilt) {
		t.Errorf("Send = %v; want ErrNotBuilt", err)
	}
	if err := m.Close(context.Background()); !errors.Is(err, mediator.ErrNotBuilt) {
		t.Errorf("Close = %v; want ErrNotBuilt", err)
	}
}

// TestSendAndPublishAfterCloseAreErrClosed: after Close no handler runs,
// whatever the type; a second Close is still fine.
func TestSendAndPublishAfterCloseAreErrClosed(t *testing.T) {
	r := &recorder{}
	ran := false
	m := mustNew(t,
		mediator.WithHandler[ping, string](func(context.Context, ping) (string, error) { ran = true; return "", nil }),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "a", nil)),
	)
	ctx := context.Background()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := mediator.Send(ctx, m, ping{}); !errors.Is(err, mediator.ErrClosed) {
		t.Errorf("Send after Close = %v; want ErrClosed", err)
	}
	if err := mediator.Publish(ctx, m, accountOpened{}); !errors.Is(err, mediator.ErrClosed) {
		t.Errorf("Publish after Close = %v; want ErrClosed", err)
	}
	if ran || len(r.list()) != 0 {
		t.Error("a handler ran after Close")
	}
	if err := m.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestSendsRacingWithCloseGetAnswerOrErrClosed: run with -race; every Send
// either went through before Close or was refused with ErrClosed.
func TestSendsRacingWithCloseGetAnswerOrErrClosed(t *testing.T) {
	m := mustNew(t, mediator.WithHandler[ping, string](pingHandler{greeting: "hi"}))
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 400)
	for range 4 {
		wg.Go(func() {
			<-start
			for range 100 {
				if _, err := mediator.Send(context.Background(), m, ping{}); err != nil {
					errs <- err
				}
			}
		})
	}
	close(start)
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, mediator.ErrClosed) {
			t.Fatalf("Send racing with Close = %v; want nil or ErrClosed", err)
		}
	}
}
