package mediator_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// audited is a guarded marker of a made-up extension: its messages must
// pass an auditing behavior.
type audited struct{}

var errUnaudited = errors.New("unaudited")

func (audited) MediatorGuard() mediator.Guard {
	return mediator.Guard{Name: "audit", Unguarded: func(req, res reflect.Type, src string) error {
		return fmt.Errorf("%s -> %s (handler at %s): %w", req, res, src, errUnaudited)
	}}
}

type auditBase struct{ audited }

// auditedCommand carries the marker through a pointer-embedded base, left
// nil: Build must not call through it.
type auditedCommand struct {
	mediator.Command[int]
	*auditBase
}

type auditor struct{ guard string }

func (a auditor) Guards(guard string, _ reflect.Type) bool { return guard == a.guard }

func (auditor) Handle(ctx context.Context, req auditedCommand, next mediator.Next[auditedCommand, int]) (int, error) {
	return next(ctx, req)
}

func TestGuardedMarkerNeedsAGuardian(t *testing.T) {
	handler := mediator.WithHandler[auditedCommand, int](func(context.Context, auditedCommand) (int, error) { return 1, nil })
	if _, err := mediator.New(handler); !errors.Is(err, errUnaudited) {
		t.Fatalf("Build without a guardian = %v, want the marker's error", err)
	}
	if _, err := mediator.New(handler, mediator.WithBehavior[auditedCommand, int](auditor{guard: "other"})); !errors.Is(err, errUnaudited) {
		t.Fatalf("Build with a guardian of another guard = %v, want the marker's error", err)
	}
	m, err := mediator.New(handler, mediator.WithBehavior[auditedCommand, int](auditor{guard: "audit"}))
	if err != nil {
		t.Fatalf("Build with a guardian: %v", err)
	}
	if n, err := mediator.Send(context.Background(), m, auditedCommand{}); n != 1 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
}
