package locking_test

import (
	"context"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

func TestNoOpProviderGrantsEverythingWithGrowingTokens(t *testing.T) {
	var tokens []uint64
	m := build(t, locking.WithNoOpLocking(),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, _ AccountCommand) (int, error) {
			h, _ := locking.FromContext(ctx)
			if h.Lost() != nil {
				t.Error("a no-op handle can be lost")
			}
			tokens = append(tokens, h.Token())
			return 0, nil
		}))
	for range 3 {
		if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: "same"}); err != nil {
			t.Fatal(err)
		}
	}
	if len(tokens) != 3 || tokens[0] != 1 || tokens[1] != 2 || tokens[2] != 3 {
		t.Fatalf("tokens = %v, want [1 2 3]", tokens)
	}
}
