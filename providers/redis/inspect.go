package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/lockvalue"
)

var _ locking.Inspector = (*Provider)(nil)

// Inspect says who holds key, from the lock's value in Redis (see
// docs/providers.md, "Who holds a lock"): the holder's instance, message
// type, trace and span ids and grant time (by the holder's clock), its
// fencing token, how long it has held the key (by this process's clock),
// how long its lease has left (by the server's), and how many goroutines
// of this provider wait for the key. A key nobody holds has Held false. One
// script call, bounded by Options.DialTimeout, that changes nothing; a
// Redis that fails or does not answer gives a *locking.UnavailableError
// (locking.ErrUnavailable).
func (p *Provider) Inspect(ctx context.Context, key string) (locking.LockInfo, error) {
	info := locking.LockInfo{Key: key, Waiters: p.local.Count(key)}
	if p.closed.Load() {
		return info, &locking.UnavailableError{Key: key, Err: base.ErrClosed}
	}
	ctx, cancel := context.WithTimeout(ctx, p.s.DialTimeout)
	defer cancel()
	k := base.NewKeys(p.s.KeyPrefix, key)
	reply, err := lockvalue.InspectScript.Run(ctx, p.client, []string{k.Lock, k.Fence}).Result()
	if err != nil {
		return info, &locking.UnavailableError{Key: key, Err: fmt.Errorf("redis: inspect: %w", err)}
	}
	lock, err := lockvalue.ReadInspect(reply)
	if err != nil {
		return info, &locking.UnavailableError{Key: key, Err: err}
	}
	lock.Fill(&info, time.Now())
	return info, nil
}
