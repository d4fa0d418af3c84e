package locking_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// exportLedger streams an account's entries under the account's lock.
type exportLedger struct {
	mediator.StreamRequest[int]
	locking.DistributedLock `lock:"timeout=0"`
	AccountID               string `lock:"key"`
	N                       int
	FailAt                  int
	BlockAt                 int // waits there for the context to end
}

// quietExport skips when its lock is taken.
type quietExport struct {
	mediator.StreamRequest[int]
	locking.DistributedLock `lock:"timeout=0,throw=false"`
}

// ledgerHandler streams 1..N, failing at FailAt; it stops on a cancelled
// context with the context's error.
func ledgerHandler(ctx context.Context, q exportLedger) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		for i := 1; i <= q.N; i++ {
			if ctx.Err() != nil {
				yield(0, context.Cause(ctx))
				return
			}
			if i == q.BlockAt {
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Second):
				}
				yield(0, context.Cause(ctx))
				return
			}
			if i == q.FailAt {
				yield(0, errBoom)
				return
			}
			if !yield(i, nil) {
				return
			}
		}
	}
}

func streamMediator(t *testing.T, opt mediator.Option) *mediator.Mediator {
	return build(t, opt,
		locking.WithStreamLocking[exportLedger, int](),
		locking.WithStreamLocking[quietExport, int](),
		mediator.WithStreamHandler[exportLedger, int](ledgerHandler),
		mediator.WithStreamHandler[quietExport, int](func(context.Context, quietExport) iter.Seq2[int, error] {
			return func(yield func(int, error) bool) { yield(1, nil) }
		}),
	)
}

func isHeld(p *memory.Provider, key string) bool {
	h, err := p.TryAcquire(context.Background(), key, 0)
	if err != nil {
		return true
	}
	_ = h.Release(context.Background())
	return false
}

func TestStreamHoldsLockForTheWholeStream(t *testing.T) {
	p := memory.New()
	m := streamMediator(t, withMemory(p))
	seq := mediator.Stream(context.Background(), m, exportLedger{AccountID: "42", N: 3})
	if isHeld(p, "exportLedger:42") {
		t.Fatal("the lock is taken before the range starts")
	}
	n := 0
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if !isHeld(p, "exportLedger:42") {
			t.Errorf("item %d: the lock is free while the stream runs", v)
		}
	}
	if n != 3 || p.Len() != 0 {
		t.Errorf("%d items, %d keys held after the end; want 3 and 0", n, p.Len())
	}
}

func TestStreamLockReleasedOnEarlyBreak(t *testing.T) {
	p := memory.New()
	m := streamMediator(t, withMemory(p))
	for v, err := range mediator.Stream(context.Background(), m, exportLedger{AccountID: "1", N: 100}) {
		if err != nil || v == 2 {
			break
		}
	}
	if p.Len() != 0 {
		t.Errorf("%d keys held after an early break; want 0", p.Len())
	}
}

func TestStreamLockReleasedOnError(t *testing.T) {
	p := memory.New()
	m := streamMediator(t, withMemory(p))
	var got error
	for _, err := range mediator.Stream(context.Background(), m, exportLedger{AccountID: "1", N: 5, FailAt: 2}) {
		if err != nil {
			got = err
		}
	}
	if !errors.Is(got, errBoom) || p.Len() != 0 {
		t.Errorf("error %v, %d keys held; want errBoom and 0", got, p.Len())
	}
}

func TestStreamLockReleasedOnCancel(t *testing.T) {
	p := memory.New()
	m := streamMediator(t, withMemory(p))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got error
	for v, err := range mediator.Stream(ctx, m, exportLedger{AccountID: "1", N: 100}) {
		if err != nil {
			got = err
			break
		}
		if v == 3 {
			cancel()
		}
	}
	if !errors.Is(got, context.Canceled) || p.Len() != 0 {
		t.Errorf("error %v, %d keys held; want context.Canceled and 0", got, p.Len())
	}
}

func TestStreamLockReleasedOnConsumerPanic(t *testing.T) {
	p := memory.New()
	m := streamMediator(t, withMemory(p))
	func() {
		defer func() {
			if r := recover(); r != "consumer exploded" {
				t.Errorf("recovered %v; want the consumer's panic", r)
			}
		}()
		for range mediator.Stream(context.Background(), m, exportLedger{AccountID: "1", N: 5}) {
			panic("consumer exploded")
		}
	}()
	if p.Len() != 0 {
		t.Errorf("%d keys held after a panic; want 0", p.Len())
	}
}

func TestStreamLockContended(t *testing.T) {
	p := memory.New()
	m := streamMediator(t, withMemory(p))
	ctx := context.Background()
	h, err := p.TryAcquire(ctx, "exportLedger:42", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	items := 0
	var got error
	for _, err := range mediator.Stream(ctx, m, exportLedger{AccountID: "42", N: 3}) {
		items++
		got = err
	}
	var le *locking.Error
	if items != 1 || !errors.As(got, &le) || le.Key != "exportLedger:42" {
		t.Errorf("%d items, last error %v; want one item carrying the *locking.Error", items, got)
	}

	q, err := p.TryAcquire(ctx, "quietExport", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Release(ctx)
	for v, err := range mediator.Stream(ctx, m, quietExport{}) {
		t.Errorf("throw=false stream yielded %v, %v; want nothing", v, err)
	}
}

func TestStreamLockLostEndsTheStream(t *testing.T) {
	p := newFake()
	p.losable = true
	m := streamMediator(t, p.option())
	var errs []error
	for v, err := range mediator.Stream(context.Background(), m, exportLedger{AccountID: "1", N: 100, BlockAt: 3}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if v == 2 {
			p.lastHandle().markLost()
		}
	}
	// The handler sees its context end with cause ErrLockLost; the
	// stream's last item says the lock was lost.
	if len(errs) != 2 || !errors.Is(errs[0], locking.ErrLockLost) || !errors.Is(errs[1], locking.ErrLockLost) {
		t.Errorf("errors %v; want the handler's and the final ErrLockLost", errs)
	}
	if p.heldCount() != 0 {
		t.Errorf("%d held after the loss; want 0", p.heldCount())
	}
}

func TestMarkedStreamWithoutLockingFailsBuild(t *testing.T) {
	_, err := mediator.New(memory.WithInMemoryDistributedLocking(),
		mediator.WithStreamHandler[exportLedger, int](ledgerHandler))
	if err == nil || !strings.Contains(err.Error(), "locking.WithStreamLocking[locking_test.exportLedger, int]()") {
		t.Errorf("Build = %v; want it to name the fix", err)
	}
}
