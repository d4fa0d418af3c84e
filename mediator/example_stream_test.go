package mediator_test

import (
	"context"
	"fmt"
	"iter"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// ListTransactions is a stream request: its handler answers with a stream
// of amounts (cents) instead of one response.
type ListTransactions struct {
	mediator.StreamRequest[int64]
	AccountID string
}

func ExampleStream() {
	ledger := map[string][]int64{"42": {1000, -250, -100, 500}}
	m, err := mediator.New(
		mediator.WithStreamHandler[ListTransactions, int64](func(ctx context.Context, q ListTransactions) iter.Seq2[int64, error] {
			return func(yield func(int64, error) bool) {
				for _, amount := range ledger[q.AccountID] {
					if !yield(amount, nil) {
						fmt.Println("handler: consumer stopped")
						return
					}
				}
			}
		}),
		mediator.WithStreamBehavior[ListTransactions, int64](func(ctx context.Context, q ListTransactions, next mediator.StreamNext[ListTransactions, int64]) iter.Seq2[int64, error] {
			return func(yield func(int64, error) bool) {
				fmt.Println("behavior: stream of", q.AccountID, "starts")
				defer fmt.Println("behavior: stream ends")
				for amount, err := range next(ctx, q) {
					if !yield(amount, err) {
						return
					}
				}
			}
		}),
	)
	if err != nil {
		panic(err)
	}
	for amount, err := range mediator.Stream(context.Background(), m, ListTransactions{AccountID: "42"}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(amount)
		if amount < 0 {
			break // the handler and the behavior see the stop
		}
	}
	// Output:
	// behavior: stream of 42 starts
	// 1000
	// -250
	// handler: consumer stopped
	// behavior: stream ends
}
