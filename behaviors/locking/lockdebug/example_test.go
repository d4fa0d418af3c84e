package lockdebug_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/lockdebug"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

type PayInvoice struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=invoice"`
	InvoiceID               string
}

func (p PayInvoice) LockKey() string { return p.InvoiceID }

// Register the table on the mediator and mount it at /debug/locks; while a
// handler runs, the page lists its lock.
func Example() {
	// A fixed clock and instance name keep the output stable; an
	// application passes neither.
	at := time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
	locks := lockdebug.New(lockdebug.WithClock(func() time.Time { return at }), lockdebug.WithInstance("billing-1:4711"))

	mux := http.NewServeMux()
	mux.Handle("/debug/locks", locks)

	m, err := mediator.New(
		locks.Option(),
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[PayInvoice, mediator.Unit](),
		mediator.WithHandler[PayInvoice, mediator.Unit](func(ctx context.Context, p PayInvoice) (mediator.Unit, error) {
			// What an operator would see now, with
			// curl localhost:8080/debug/locks
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/locks", nil))
			body, _ := io.ReadAll(rec.Body)
			fmt.Print(string(body))
			return mediator.Unit{}, nil
		}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close(context.Background())
	if _, err := mediator.Send(context.Background(), m, PayInvoice{InvoiceID: "inv-123"}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {
	//   "instance": "billing-1:4711",
	//   "held": [
	//     {
	//       "key": "invoice:inv-123",
	//       "prefix": "invoice",
	//       "holder": {
	//         "instance": "billing-1:4711",
	//         "message_type": "lockdebug_test.PayInvoice",
	//         "since": "2026-11-30T04:00:00Z"
	//       },
	//       "token": 1,
	//       "age_ns": 0
	//     }
	//   ],
	//   "waiting": []
	// }
}
