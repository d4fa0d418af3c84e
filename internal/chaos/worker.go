package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// WorkerEnv is the environment variable that carries a worker process's
// [WorkerConfig] as JSON.
const WorkerEnv = "CHAOS_WORKER"

// WorkerConfig is what a worker process needs to know.
type WorkerConfig struct {
	Proc       int           // the process's number in the run
	Goroutines int           // how many goroutines send the locked command
	Redlock    string        // the "redlock://" address of the nodes
	Store      string        // the store node's address
	StoreName  string        // the fenced store's key name
	Collector  string        // where to report events
	Until      time.Time     // when to stop sending
	TTL        time.Duration // the lease
	// NodeTimeout is the provider's Options.NodeTimeout; 0 takes its
	// default (TTL/10).
	NodeTimeout time.Duration
	Wait        time.Duration // the lock timeout of the command
	Work        time.Duration // how long a handler holds the lock
}

// Env returns the environment entry that passes c to a worker.
func (c WorkerConfig) Env() string {
	b, _ := json.Marshal(c) // plain fields: cannot fail
	return WorkerEnv + "=" + string(b)
}

// WorkerConfigFromEnv reads the config Env passed.
func WorkerConfigFromEnv() (WorkerConfig, error) {
	var c WorkerConfig
	if err := json.Unmarshal([]byte(os.Getenv(WorkerEnv)), &c); err != nil {
		return c, fmt.Errorf("chaos: %s: %w", WorkerEnv, err)
	}
	return c, nil
}

// Increment is the locked command of a run: read the store, hold the lock a
// while, write the value plus one with the fencing token. One lock for all.
type Increment struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=chaos"`
	// G is the goroutine that sends it, for the reports.
	G int
	// Asked is when it was sent (Unix nanoseconds): its lock cannot have
	// been granted before.
	Asked int64
}

// worker is one worker process's state.
type worker struct {
	cfg   WorkerConfig
	rep   *Reporter
	store *FencedStore
}

// RunWorker sends Increment from cfg.Goroutines goroutines until cfg.Until,
// reporting every attempt, critical section and write. It returns when they
// have all stopped.
func RunWorker(cfg WorkerConfig) error {
	rep, err := DialReporter(cfg.Collector, cfg.Proc)
	if err != nil {
		return err
	}
	defer rep.Close()
	client := goredis.NewClient(&goredis.Options{Addr: cfg.Store, ContextTimeoutEnabled: true})
	defer client.Close()
	w := &worker{cfg: cfg, rep: rep, store: NewFencedStore(client, cfg.StoreName)}

	m, err := w.build()
	if err != nil {
		return err
	}
	defer m.Close(context.Background())

	ctx, cancel := context.WithDeadline(context.Background(), cfg.Until)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Goroutines)
	for g := range cfg.Goroutines {
		wg.Go(func() { errs <- w.loop(ctx, m, g) })
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// build makes the mediator; Build fails while no majority of nodes answers
// (a worker may start during such a fault), so it tries until cfg.Until.
func (w *worker) build() (*mediator.Mediator, error) {
	for {
		m, err := mediator.New(
			redlock.WithRedlockDistributedLocking(w.cfg.Redlock, func(o *redlock.Options) {
				o.TTL = w.cfg.TTL
				o.NodeTimeout = w.cfg.NodeTimeout
				o.KeyPrefix = "chaos:"
				o.DialTimeout = 500 * time.Millisecond
				// Waiters in other processes are not woken by a release:
				// short backoffs keep the lock busy.
				o.MinRetryBackoff, o.MaxRetryBackoff = 2*time.Millisecond, 20*time.Millisecond
			}),
			locking.WithDistributedLocking[Increment, mediator.Unit](func(o *locking.Options) {
				o.DefaultTimeout = w.cfg.Wait
			}),
			mediator.WithHandler[Increment, mediator.Unit](w.handle),
		)
		if err == nil || !errors.Is(err, locking.ErrUnavailable) || time.Now().After(w.cfg.Until) {
			return m, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loop sends Increment until ctx ends.
func (w *worker) loop(ctx context.Context, m *mediator.Mediator, g int) error {
	for ctx.Err() == nil {
		_, err := mediator.Send(ctx, m, Increment{G: g, Asked: time.Now().UnixNano()})
		if ctx.Err() != nil {
			return nil // cut short by the end of the run: not an outcome
		}
		outcome := classify(err)
		if rerr := w.rep.Send(Event{Kind: Op, G: g, Outcome: outcome}); rerr != nil {
			return rerr
		}
		pause := time.Duration(rand.N(3)) * time.Millisecond
		if outcome == Unavailable || outcome == Failed {
			pause = 50 * time.Millisecond // no hot loop against dead nodes
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	return nil
}

func classify(err error) string {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, locking.ErrLockLost):
		return Lost
	case errors.Is(err, locking.ErrNotAcquired):
		return Contended
	case errors.Is(err, locking.ErrUnavailable):
		return Unavailable
	}
	return Failed
}

// handle is the critical section: enter, read, work, fenced write, exit.
// The exit is reported before the behavior releases the lock.
func (w *worker) handle(ctx context.Context, inc Increment) (mediator.Unit, error) {
	h, ok := locking.FromContext(ctx)
	if !ok {
		return mediator.Unit{}, errors.New("chaos: the handler ran without a lock")
	}
	token := h.Token()
	if err := w.rep.Send(Event{Kind: Enter, G: inc.G, Token: token, Asked: inc.Asked}); err != nil {
		return mediator.Unit{}, err
	}
	defer w.rep.Send(Event{Kind: Exit, G: inc.G, Token: token})
	v, err := w.store.Read(ctx)
	if err != nil {
		return mediator.Unit{}, err
	}
	// Hold the lock as real work would; a lost lease cancels ctx and ends
	// the section before anyone else can be granted the lock.
	t := time.NewTimer(w.cfg.Work)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return mediator.Unit{}, context.Cause(ctx)
	case <-t.C:
	}
	// Once sent, the write is seen through to its answer: a write that
	// landed unreported would look like one the checker cannot explain.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	seq, accepted, err := w.store.Write(wctx, token, v+1)
	if err != nil {
		return mediator.Unit{}, err
	}
	if err := w.rep.Send(Event{Kind: Write, G: inc.G, Token: token, Seq: seq, Accepted: accepted}); err != nil {
		return mediator.Unit{}, err
	}
	return mediator.Unit{}, nil
}
