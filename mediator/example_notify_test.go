package mediator_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// OrderPlaced is a notification: any number of handlers receive it.
type OrderPlaced struct {
	mediator.Notification
	OrderID string
}

// A behavior around the whole Publish runs once, whatever the number of
// handlers; a behavior around each handler runs once per handler, so a
// retry there calls a flaky handler again without mailing twice.
func ExampleWithNotificationHandlerBehavior() {
	attempts := 0
	m, err := mediator.New(
		mediator.WithNotificationBehavior[OrderPlaced](func(ctx context.Context, n OrderPlaced, next mediator.NotificationNext[OrderPlaced]) error {
			fmt.Println("publish", n.OrderID)
			return next(ctx, n)
		}),
		mediator.WithNotificationHandlerBehavior[OrderPlaced](func(ctx context.Context, n OrderPlaced, next mediator.NotificationNext[OrderPlaced]) error {
			var err error
			for range 3 {
				if err = next(ctx, n); err == nil {
					return nil
				}
			}
			return err
		}),
		mediator.WithNotificationHandler[OrderPlaced](func(_ context.Context, n OrderPlaced) error {
			fmt.Println("mail", n.OrderID)
			return nil
		}),
		mediator.WithNotificationHandler[OrderPlaced](func(_ context.Context, n OrderPlaced) error {
			attempts++
			if attempts < 3 {
				fmt.Println("warehouse busy")
				return errors.New("warehouse busy")
			}
			fmt.Println("ship", n.OrderID)
			return nil
		}),
	)
	if err != nil {
		panic(err)
	}
	fmt.Println(mediator.Publish(context.Background(), m, OrderPlaced{OrderID: "A-1"}))
	// Output:
	// publish A-1
	// mail A-1
	// warehouse busy
	// warehouse busy
	// ship A-1
	// <nil>
}

// In the background Publish returns at once; errors go to the callback, and
// Close waits for the deliveries already started.
func ExampleWithBackgroundPublish() {
	var mu sync.Mutex
	var failures []string
	m, err := mediator.New(
		mediator.WithBackgroundPublish(func(_ context.Context, n any, err error) {
			mu.Lock()
			defer mu.Unlock()
			failures = append(failures, fmt.Sprintf("%s: %v", n.(OrderPlaced).OrderID, err))
		}),
		mediator.WithNotificationHandler[OrderPlaced](func(_ context.Context, n OrderPlaced) error {
			if n.OrderID == "B-2" {
				return errors.New("no stock")
			}
			return nil
		}),
	)
	if err != nil {
		panic(err)
	}
	for _, id := range []string{"B-1", "B-2"} {
		if err := mediator.Publish(context.Background(), m, OrderPlaced{OrderID: id}); err != nil {
			panic(err)
		}
	}
	if err := m.Close(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println(failures)
	// Output: [B-2: no stock]
}

// StopOnFirstError stops the handlers at the first that fails and returns
// its error alone.
func ExampleStopOnFirstError() {
	m, err := mediator.New(
		mediator.WithPublishStrategy(mediator.StopOnFirstError),
		mediator.WithNotificationHandler[OrderPlaced](func(context.Context, OrderPlaced) error { return errors.New("fraud check failed") }),
		mediator.WithNotificationHandler[OrderPlaced](func(context.Context, OrderPlaced) error {
			fmt.Println("never shipped")
			return nil
		}),
	)
	if err != nil {
		panic(err)
	}
	fmt.Println(mediator.Publish(context.Background(), m, OrderPlaced{OrderID: "C-3"}))
	// Output: fraud check failed
}
