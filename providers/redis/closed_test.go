package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// closedAnswer checks the one answer of a closed provider: no lock, and an
// error matching locking.ErrClosed (and ErrUnavailable) — never go-redis's
// raw "redis: client is closed".
func closedAnswer(t *testing.T, what string, h locking.Handle, err error) {
	t.Helper()
	if h != nil {
		_ = h.Release(context.Background())
		t.Fatalf("%s granted a lock after Close", what)
	}
	if !errors.Is(err, locking.ErrClosed) || !errors.Is(err, redislocks.ErrClosed) || !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("%s = %v; want locking.ErrClosed, redis.ErrClosed and ErrUnavailable", what, err)
	}
}

// TestAClosedProviderGrantsNothing: the provider is closed but its client
// (the application's) is still open; a free key is still refused.
func TestAClosedProviderGrantsNothing(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), nil)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, timeout := range []time.Duration{0, time.Second} {
		h, err := p.TryAcquire(ctxT(t), "free", timeout)
		closedAnswer(t, "TryAcquire after Close", h, err)
	}
}

// TestSendAfterTheMediatorClosedIsErrClosed: the mediator closed the
// provider and the client it made; the provider it held answers ErrClosed,
// not "redis: client is closed".
func TestSendAfterTheMediatorClosedIsErrClosed(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	m, err := mediator.New(
		redislocks.WithRedisDistributedLocking(srv.Addr()),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](tokenHandler),
	)
	if err != nil {
		t.Fatal(err)
	}
	p := providerOf(t, m)
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := mediator.Send(ctxT(t), m, withdraw{Account: "1"}); !errors.Is(err, locking.ErrClosed) {
		t.Fatalf("Send after Close = %v; want ErrClosed", err)
	}
	h, err := p.TryAcquire(ctxT(t), "withdraw:1", 0)
	closedAnswer(t, "the mediator's provider after its Close", h, err)
}
