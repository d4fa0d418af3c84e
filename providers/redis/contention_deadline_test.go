package redis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
)

// A retry still waiting for Redis's answer when the timeout comes is cut
// off by the timeout; since Redis already said "taken", the caller must see
// contention (409 in the bank sample), not an outage (503).
func TestTimeoutDuringARetryIsContentionNotUnavailable(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	proxy := redistesting.NewProxy(t, srv.Addr())
	// Every answer is 20ms late, so a retry is in flight most of the time.
	redistesting.AddToxic(t, proxy, `{"name":"slow","type":"latency","stream":"downstream","attributes":{"latency":20}}`)
	holder := newProvider(t, srv.Addr(), nil)
	waiter := newProvider(t, proxy.Listen, &redislocks.Options{MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond})
	ctx := ctxT(t)

	h, err := holder.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	// Warm up: the first wait opens the command and subscription
	// connections, several round trips that a short budget would not cover.
	if _, err := waiter.TryAcquire(ctx, "k", time.Second); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("warm-up: err = %v, want ErrNotAcquired", err)
	}
	// The timeout is long enough for the first attempt's answer to come
	// back even on a busy machine (an attempt that the timeout cuts before
	// Redis answered at all is an outage: nothing was heard), and ends
	// during one of the fast retries.
	for i := range 5 {
		_, err := waiter.TryAcquire(ctx, "k", time.Second)
		var le *locking.Error
		if !errors.As(err, &le) || errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("try %d: err = %v, want *locking.Error (contention)", i, err)
		}
		if le.Key != "k" || le.Timeout != time.Second {
			t.Fatalf("try %d: error = %+v, want Key k, Timeout 1s", i, *le)
		}
	}
}
