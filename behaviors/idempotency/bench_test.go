package idempotency_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/idempotency"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// BenchmarkIdempotency measures what the behavior adds to a Send, on the
// memory store: "baseline" is the same mediator and handler without the
// behavior; "no key" a request whose key is empty (the behavior passes it
// through); "new key" a first request (fingerprint, claim, handler, encode,
// complete); "replay" a retry answered from the store.
func BenchmarkIdempotency(b *testing.B) {
	handler := mediator.HandlerFunc[Withdraw, Balance](func(_ context.Context, c Withdraw) (Balance, error) {
		return Balance{Cents: 1000 - c.Amount}, nil
	})
	plain, err := mediator.New(mediator.WithHandler[Withdraw, Balance](handler))
	if err != nil {
		b.Fatal(err)
	}
	deduped, err := mediator.New(
		idempotency.WithMemoryStore(),
		idempotency.WithIdempotency[Withdraw, Balance](),
		mediator.WithHandler[Withdraw, Balance](handler),
	)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	run := func(b *testing.B, m *mediator.Mediator, cmd func(i int) Withdraw) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := mediator.Send(ctx, m, cmd(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("baseline", func(b *testing.B) {
		run(b, plain, func(int) Withdraw { return Withdraw{Account: "a", Amount: 1} })
	})
	b.Run("no key", func(b *testing.B) {
		run(b, deduped, func(int) Withdraw { return Withdraw{Account: "a", Amount: 1} })
	})
	b.Run("new key", func(b *testing.B) {
		keys := make([]string, 0, 1<<20)
		run(b, deduped, func(i int) Withdraw {
			for len(keys) <= i {
				keys = append(keys, "k"+strconv.Itoa(len(keys)))
			}
			return Withdraw{RequestKey: keys[i], Account: "a", Amount: 1}
		})
	})
	b.Run("replay", func(b *testing.B) {
		cmd := Withdraw{RequestKey: "same", Account: "a", Amount: 1}
		if _, err := mediator.Send(ctx, deduped, cmd); err != nil {
			b.Fatal(err)
		}
		run(b, deduped, func(int) Withdraw { return cmd })
	})
}
