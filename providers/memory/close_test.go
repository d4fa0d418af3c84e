package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// closedErr checks the one answer of a closed provider.
func closedErr(t *testing.T, what string, h locking.Handle, err error) {
	t.Helper()
	if h != nil {
		t.Fatalf("%s granted a lock after Close", what)
	}
	if !errors.Is(err, locking.ErrClosed) || !errors.Is(err, mediator.ErrClosed) || !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("%s = %v; want ErrClosed (and ErrUnavailable)", what, err)
	}
}

func TestTryAcquireAfterCloseIsErrClosed(t *testing.T) {
	p := memory.New()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := p.TryAcquire(context.Background(), "k", time.Second)
	closedErr(t, "TryAcquire after Close", h, err)
	if err := p.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	var zero memory.Provider // the zero value closes too
	_ = zero.Close()
	h, err = zero.TryAcquire(context.Background(), "k", 0)
	closedErr(t, "TryAcquire on a closed zero Provider", h, err)
}

// TestCloseEndsTheWaits: a caller queued behind the holder gives up at
// Close with ErrClosed instead of being granted the lock later; the holder
// can still release.
func TestCloseEndsTheWaits(t *testing.T) {
	p := memory.New()
	queued := make(chan string, 1)
	memory.OnQueued(p, func(key string) { queued <- key })
	held, err := p.TryAcquire(context.Background(), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		h   locking.Handle
		err error
	}
	done := make(chan result, 1)
	go func() {
		h, err := p.TryAcquire(context.Background(), "k", time.Minute)
		done <- result{h, err}
	}()
	<-queued
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	closedErr(t, "a wait cut by Close", r.h, r.err)
	if err := held.Release(context.Background()); err != nil {
		t.Fatalf("Release after Close = %v", err)
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len = %d after the last release; want 0", n)
	}
}

type closeCmd struct {
	mediator.Command[int]
	locking.DistributedLock `lock:"timeout=0"`
	ID                      string
}

func (c closeCmd) LockKey() string { return c.ID }

// TestSendAfterCloseIsErrClosed: the mediator's Close closes the provider it
// made; a Send afterwards is refused with ErrClosed and takes no lock, and
// so is a lock asked for from a handler still running when Close came.
func TestSendAfterCloseIsErrClosed(t *testing.T) {
	ran := 0
	m, err := mediator.New(memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[closeCmd, int](),
		mediator.WithHandler[closeCmd, int](func(context.Context, closeCmd) (int, error) { ran++; return 0, nil }))
	if err != nil {
		t.Fatal(err)
	}
	p := providerOf(t, m)
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := mediator.Send(context.Background(), m, closeCmd{ID: "1"}); !errors.Is(err, locking.ErrClosed) {
		t.Fatalf("Send after Close = %v; want ErrClosed", err)
	}
	if ran != 0 {
		t.Fatal("the handler ran after Close")
	}
	h, err := p.TryAcquire(context.Background(), "closeCmd:1", 0)
	closedErr(t, "the mediator's provider after its Close", h, err)
}
