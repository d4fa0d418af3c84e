package mediatortest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/mediator/mediatortest"
)

// A test of PlaceOrder's handler: the stock reservation is stubbed, and the
// recorder shows what the handler sent and published.
func ExampleRecorder() {
	rec := mediatortest.NewRecorder()
	m, err := mediator.New(
		rec.Option(),
		mediator.WithHandler[PlaceOrder, string](placeOrder),
		mediatortest.Stub[ReserveStock](mediator.Unit{}, nil),
		mediatortest.Sink[OrderPlaced](),
	)
	if err != nil {
		panic(err)
	}
	_, _ = mediator.Send(context.Background(), m, PlaceOrder{Item: "lamp"})
	fmt.Println(mediatortest.SentOf[ReserveStock](rec))
	fmt.Println(mediatortest.PublishedOf[OrderPlaced](rec)[0].OrderID)
	// Output:
	// [{{} lamp}]
	// order-lamp
}

// The contention and lost-lock paths of a locked handler, without a real
// backend.
func ExampleLockProvider() {
	p := mediatortest.NewLockProvider()
	m, err := mediator.New(
		p.Option(),
		locking.WithDistributedLocking[LockedWithdraw, int64](),
		mediator.WithHandler[LockedWithdraw, int64](func(ctx context.Context, c LockedWithdraw) (int64, error) {
			select {
			case <-ctx.Done():
				return 0, context.Cause(ctx)
			default:
				return 100, nil
			}
		}),
	)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	p.ContendNext("LockedWithdraw:42")
	_, err = mediator.Send(ctx, m, LockedWithdraw{AccountID: "42"})
	fmt.Println("contended:", errors.Is(err, locking.ErrNotAcquired))

	p.FailNext("", nil)
	_, err = mediator.Send(ctx, m, LockedWithdraw{AccountID: "42"})
	fmt.Println("unavailable:", errors.Is(err, locking.ErrUnavailable))

	balance, err := mediator.Send(ctx, m, LockedWithdraw{AccountID: "42"})
	fmt.Println("normal:", balance, err)
	// Output:
	// contended: true
	// unavailable: true
	// normal: 100 <nil>
}
