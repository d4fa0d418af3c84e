package redlock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/lockvalue"
)

var _ locking.Inspector = (*Provider)(nil)

// Inspect says who holds key as a majority of the nodes see it (see
// docs/providers.md, "Who holds a lock"): it reads the lock's value on
// every node at once, each read bounded by Options.NodeTimeout and
// changing nothing, and reports the holder that a majority of nodes agree
// on, with the earliest grant time any of them recorded (by the holder's
// clock; HeldFor by this process's), the largest fence counter among them,
// which is the agreed token, and the lease left on the majority (the
// quorum-th longest). Waiters is this provider's goroutines queued for the
// key. When no owner holds a majority, Held is false; when fewer than a
// majority of nodes answer, the error is a *locking.UnavailableError
// (locking.ErrUnavailable).
func (r *Provider) Inspect(ctx context.Context, key string) (locking.LockInfo, error) {
	info := locking.LockInfo{Key: key, Waiters: r.local.Count(key)}
	if r.shut.Load() {
		return info, &locking.UnavailableError{Key: key, Err: base.ErrClosed}
	}
	k := base.NewKeys(r.s.KeyPrefix, key)
	keys := []string{k.Lock, k.Fence}
	ctx, cancel := context.WithTimeout(ctx, r.s.nodeTimeout)
	defer cancel()
	locks := make([]lockvalue.Lock, len(r.nodes))
	errs := make([]error, len(r.nodes))
	var wg sync.WaitGroup
	for i, c := range r.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply, err := lockvalue.InspectScript.Run(ctx, c, keys).Result()
			if err == nil {
				locks[i], err = lockvalue.ReadInspect(reply)
			}
			if err != nil {
				errs[i] = fmt.Errorf("node %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	var answered []lockvalue.Lock
	var failed []error
	for i, err := range errs {
		if err != nil {
			failed = append(failed, err)
			continue
		}
		answered = append(answered, locks[i])
	}
	if len(answered) < r.quorum {
		return info, &locking.UnavailableError{Key: key, Err: fmt.Errorf(
			"redis: redlock: inspect: %d of %d nodes answered, %d needed: %w", len(answered), len(r.nodes), r.quorum, errors.Join(failed...))}
	}
	if l, ok := lockvalue.Majority(answered, r.quorum); ok {
		l.Fill(&info, time.Now())
	}
	return info, nil
}
