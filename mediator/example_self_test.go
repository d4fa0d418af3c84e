package mediator_test

import (
	"context"
	"fmt"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// OpenAccount is a command; the handler answers with the new account's id.
type OpenAccount struct {
	mediator.Command[string]
	Owner string
}

// AccountCreated is the event the handler publishes.
type AccountCreated struct {
	mediator.Notification
	ID, Owner string
}

// OpenAccountHandler publishes through the mediator it was built with.
type OpenAccountHandler struct{ m *mediator.Mediator }

// NewOpenAccountHandler asks the container for the mediator, like any
// other dependency.
func NewOpenAccountHandler(m *mediator.Mediator) *OpenAccountHandler {
	return &OpenAccountHandler{m: m}
}

func (h *OpenAccountHandler) Handle(ctx context.Context, c OpenAccount) (string, error) {
	id := "acc-1"
	if err := mediator.Publish(ctx, h.m, AccountCreated{ID: id, Owner: c.Owner}); err != nil {
		return "", err
	}
	return id, nil
}

// A command handler that publishes an event: its constructor takes
// *mediator.Mediator, and the container supplies the mediator Build returns.
func ExampleMediator_publishFromAHandler() {
	m, err := mediator.New(
		mediator.WithHandler[OpenAccount, string](NewOpenAccountHandler),
		mediator.WithNotificationHandler[AccountCreated](func(_ context.Context, e AccountCreated) error {
			fmt.Printf("welcome mail to %s for %s\n", e.Owner, e.ID)
			return nil
		}),
	)
	if err != nil {
		panic(err)
	}
	defer m.Close(context.Background())
	id, err := mediator.Send(context.Background(), m, OpenAccount{Owner: "ann"})
	fmt.Println(id, err)
	// Output:
	// welcome mail to ann for acc-1
	// acc-1 <nil>
}
