package locking_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// slowestHold remembers the key held longest. It keeps a copy of that key,
// never the event's own string, and says so: an observed Send then costs no
// copy of every key.
type slowestHold struct {
	mu   sync.Mutex
	key  string
	hold time.Duration
}

func (o *slowestHold) ObserveLock(e locking.LockEvent) {
	if e.Outcome != locking.Released {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.key == "" || e.Hold > o.hold {
		o.key, o.hold = strings.Clone(e.Key), e.Hold
	}
}

// RetainsKeys tells the locking behavior that the observer keeps no key it
// was given.
func (o *slowestHold) RetainsKeys() bool { return false }

func ExampleKeyRetainer() {
	obs := &slowestHold{}
	m, err := mediator.New(
		memory.WithInMemoryDistributedLocking(),
		locking.WithObserver(obs),
		locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](),
		mediator.WithHandler[WithdrawCommand, WithdrawResult](mediator.HandlerFunc[WithdrawCommand, WithdrawResult](
			func(context.Context, WithdrawCommand) (WithdrawResult, error) { return WithdrawResult{}, nil })),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "42", Amount: 250})
	fmt.Println(obs.key, err)
	// Output:
	// WithdrawCommand:42 <nil>
}
