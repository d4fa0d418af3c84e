package locking_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// Re-entry lends a held lock to nested Sends; the borrowers must take turns.

type ledgerBatch struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=ledger"`
	Ledger                  string
}

func (c ledgerBatch) LockKey() string { return c.Ledger }

type ledgerPost struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=ledger,timeout=0"`
	Ledger                  string
}

func (c ledgerPost) LockKey() string { return c.Ledger }

type ledgerPostWaiting struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=ledger,timeout=30s"`
	Ledger                  string
	Depth                   int
}

func (c ledgerPostWaiting) LockKey() string { return c.Ledger }

func TestSiblingBorrowersOfAHeldLockExcludeEachOther(t *testing.T) {
	entered, proceed := make(chan struct{}), make(chan struct{})
	secondErr := make(chan error, 1)
	var calls atomic.Int32
	var m *mediator.Mediator
	m = build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[ledgerBatch, mediator.Unit](),
		locking.WithDistributedLocking[ledgerPost, mediator.Unit](),
		mediator.WithHandler[ledgerPost, mediator.Unit](func(ctx context.Context, c ledgerPost) (mediator.Unit, error) {
			if calls.Add(1) == 1 {
				entered <- struct{}{}
				<-proceed
			}
			return mediator.Unit{}, nil
		}),
		mediator.WithHandler[ledgerBatch, mediator.Unit](func(ctx context.Context, c ledgerBatch) (mediator.Unit, error) {
			var wg sync.WaitGroup
			firstErr := make(chan error, 1)
			wg.Go(func() {
				_, err := mediator.Send(ctx, m, ledgerPost{Ledger: c.Ledger})
				firstErr <- err
			})
			<-entered // the first sibling runs inside the borrowed lock
			wg.Go(func() {
				_, err := mediator.Send(ctx, m, ledgerPost{Ledger: c.Ledger})
				secondErr <- err
			})
			wg.Wait()
			return mediator.Unit{}, <-firstErr
		}))
	go func() {
		// The second sibling (timeout=0) must find the borrowed lock taken.
		err := <-secondErr
		secondErr <- err
		close(proceed)
	}()
	if _, err := mediator.Send(context.Background(), m, ledgerBatch{Ledger: "L"}); err != nil {
		t.Fatalf("batch: %v", err)
	}
	err := <-secondErr
	var le *locking.Error
	if !errors.Is(err, locking.ErrNotAcquired) || !errors.As(err, &le) || le.Key != "ledger:L" {
		t.Fatalf("second sibling while the first held the borrowed lock: err = %v, want *locking.Error for ledger:L", err)
	}
}

func TestSiblingBorrowersTakeTurnsAndAllRun(t *testing.T) {
	var inside, overlaps, runs atomic.Int64
	var m *mediator.Mediator
	m = build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[ledgerBatch, mediator.Unit](),
		locking.WithDistributedLocking[ledgerPostWaiting, mediator.Unit](),
		mediator.WithHandler[ledgerPostWaiting, mediator.Unit](func(ctx context.Context, c ledgerPostWaiting) (mediator.Unit, error) {
			if inside.Add(1) != 1 {
				overlaps.Add(1)
			}
			runs.Add(1)
			runtime.Gosched()
			inside.Add(-1)
			return mediator.Unit{}, nil
		}),
		mediator.WithHandler[ledgerBatch, mediator.Unit](func(ctx context.Context, c ledgerBatch) (mediator.Unit, error) {
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Go(func() {
					for range 200 {
						if _, err := mediator.Send(ctx, m, ledgerPostWaiting{Ledger: c.Ledger}); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			return mediator.Unit{}, <-errs
		}))
	if _, err := mediator.Send(context.Background(), m, ledgerBatch{Ledger: "L"}); err != nil {
		t.Fatalf("batch: %v", err)
	}
	if runs.Load() != 800 || overlaps.Load() != 0 {
		t.Fatalf("%d runs, %d of them overlapping another borrower; want 800 and 0", runs.Load(), overlaps.Load())
	}
}

func TestNestedChainOnOneKeyDoesNotDeadlock(t *testing.T) {
	var tokens []uint64
	var m *mediator.Mediator
	m = build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[ledgerPostWaiting, mediator.Unit](),
		mediator.WithHandler[ledgerPostWaiting, mediator.Unit](func(ctx context.Context, c ledgerPostWaiting) (mediator.Unit, error) {
			h, _ := locking.FromContext(ctx)
			tokens = append(tokens, h.Token())
			if c.Depth == 99 {
				return mediator.Unit{}, nil
			}
			if c.Depth < 3 {
				// handler → Send → handler → Send on the same key.
				return mediator.Send(ctx, m, ledgerPostWaiting{Ledger: c.Ledger, Depth: c.Depth + 1})
			}
			// Siblings below the innermost link still take turns.
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for range 2 {
				wg.Go(func() {
					_, err := mediator.Send(ctx, m, ledgerPostWaiting{Ledger: c.Ledger, Depth: 99})
					errs <- err
				})
			}
			wg.Wait()
			return mediator.Unit{}, errors.Join(<-errs, <-errs)
		}))
	ctx, cancel := context.WithTimeout(context.Background(), 20e9)
	defer cancel()
	if _, err := mediator.Send(ctx, m, ledgerPostWaiting{Ledger: "L", Depth: 0}); err != nil {
		t.Fatalf("nested chain: %v", err)
	}
	if len(tokens) != 6 {
		t.Fatalf("%d handlers ran, want 6", len(tokens))
	}
	for _, tok := range tokens {
		if tok != tokens[0] {
			t.Fatalf("tokens %v: every link must see the one lock", tokens)
		}
	}
}

type ledgerMove struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=ledger,timeout=0"`
	From, To                string
}

func (c ledgerMove) LockKeys() []string { return []string{c.From, c.To} }

func TestSiblingMultiKeyBorrowersExcludeEachOtherAndGiveBackWhatTheyTook(t *testing.T) {
	fake := newFake()
	entered, proceed := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	var m *mediator.Mediator
	var secondErr error
	m = build(t, fake.option(),
		locking.WithDistributedLocking[ledgerBatch, mediator.Unit](),
		locking.WithDistributedLocking[ledgerMove, mediator.Unit](),
		mediator.WithHandler[ledgerMove, mediator.Unit](func(ctx context.Context, c ledgerMove) (mediator.Unit, error) {
			if calls.Add(1) == 1 {
				entered <- struct{}{}
				<-proceed
			}
			return mediator.Unit{}, nil
		}),
		mediator.WithHandler[ledgerBatch, mediator.Unit](func(ctx context.Context, c ledgerBatch) (mediator.Unit, error) {
			firstErr := make(chan error, 1)
			go func() {
				// Borrows ledger:A, takes ledger:X from the provider.
				_, err := mediator.Send(ctx, m, ledgerMove{From: "A", To: "X"})
				firstErr <- err
			}()
			<-entered
			// Takes ledger:0 from the provider, then finds ledger:A lent out.
			_, secondErr = mediator.Send(ctx, m, ledgerMove{From: "0", To: "A"})
			close(proceed)
			return mediator.Unit{}, <-firstErr
		}))
	if _, err := mediator.Send(context.Background(), m, ledgerBatch{Ledger: "A"}); err != nil {
		t.Fatalf("batch: %v", err)
	}
	var le *locking.Error
	if !errors.As(secondErr, &le) || le.Key != "ledger:A" {
		t.Fatalf("second sibling: err = %v, want *locking.Error for ledger:A", secondErr)
	}
	if n := fake.heldCount(); n != 0 {
		t.Fatalf("%d keys still held (ledger:0 must be given back)", n)
	}
	if _, err := mediator.Send(context.Background(), m, ledgerMove{From: "A", To: "0"}); err != nil {
		t.Fatalf("after the batch, the keys are free: %v", err)
	}
}
