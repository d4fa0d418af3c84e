package idempotency_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/turbomediator/turbomediator-go/behaviors/idempotency"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// PayInvoice carries the key its client chose; a retry sends the same one.
type PayInvoice struct {
	mediator.Command[Receipt]
	RequestKey string
	Invoice    string
	Cents      int64
}

func (c PayInvoice) IdempotencyKey() string { return c.RequestKey }

type Receipt struct{ Number int }

func ExampleWithIdempotency() {
	payments := 0
	pay := mediator.HandlerFunc[PayInvoice, Receipt](func(_ context.Context, c PayInvoice) (Receipt, error) {
		payments++
		return Receipt{Number: payments}, nil
	})
	m, err := mediator.New(
		idempotency.WithMemoryStore(),
		idempotency.WithIdempotency[PayInvoice, Receipt](),
		mediator.WithHandler[PayInvoice, Receipt](pay),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close(context.Background())
	ctx := context.Background()

	cmd := PayInvoice{RequestKey: "7f3c", Invoice: "inv-1", Cents: 4200}
	first, _ := mediator.Send(ctx, m, cmd)
	var rep idempotency.Report
	retry, _ := mediator.Send(idempotency.WithReport(ctx, &rep), m, cmd) // the client did not hear back and retries
	fmt.Println(first.Number, retry.Number, rep.Replayed, payments)

	cmd.Cents = 1 // the same key for another request
	_, err = mediator.Send(ctx, m, cmd)
	fmt.Println(errors.Is(err, idempotency.ErrKeyReused))
	// Output:
	// 1 1 true 1
	// true
}
