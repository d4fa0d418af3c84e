package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/lockvalue"
)

var _ locking.Inspector = (*Provider)(nil)

// Inspect says who holds key, from the lock's value in Redis (see
// docs/providers.md, "Who holds a lock"): the holder's instance, message
// type, trace and span ids and grant time (by the holder's clock), its
// fencing token, how long it has held the key (by this process's clock),
// how long its lease has left (by the server's), and how many goroutines
// of this provider wait for the key. A key
// nobody holds has Held false. One script call, bounded by
// Options.DialTimeout, that changes nothing; a Redis that fails or does not
// answer gives a *locking.UnavailableError (locking.ErrUnavailable).
func (p *Provider) Inspect(ctx context.Context, key string) (locking.LockInfo, error) {
	info := locking.LockInfo{Key: key, Waiters: p.local.count(key)}
	if p.closed.Load() {
		return info, &locking.UnavailableError{Key: key, Err: errClosed}
	}
	ctx, cancel := context.WithTimeout(ctx, p.s.dialTimeout)
	defer cancel()
	k := newKeys(p.s.keyPrefix, key)
	reply, err := inspectScript.Run(ctx, p.client, []string{k.lock, k.fence}).Result()
	if err != nil {
		return info, &locking.UnavailableError{Key: key, Err: fmt.Errorf("redis: inspect: %w", err)}
	}
	lock, err := readInspect(reply)
	if err != nil {
		return info, &locking.UnavailableError{Key: key, Err: err}
	}
	lock.fill(&info, time.Now())
	return info, nil
}

// inspected is one server's answer to inspectScript.
type inspected struct {
	held  bool
	value lockvalue.Value
	pttl  time.Duration // lease left; 0 when the key has no expiry
	fence uint64        // the key's fence counter; 0 when none
}

// readInspect reads inspectScript's reply.
func readInspect(reply any) (inspected, error) {
	a, ok := reply.([]any)
	if !ok {
		return inspected{}, fmt.Errorf("redis: unexpected inspect reply %v", reply)
	}
	if len(a) == 0 {
		return inspected{}, nil
	}
	if len(a) != 3 {
		return inspected{}, fmt.Errorf("redis: unexpected inspect reply %v", reply)
	}
	v, ok1 := a[0].(string)
	pttl, ok2 := a[1].(int64)
	fence, ok3 := a[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return inspected{}, errors.New("redis: unexpected inspect reply types")
	}
	out := inspected{held: true, value: lockvalue.Parse(v)}
	if pttl > 0 {
		out.pttl = time.Duration(pttl) * time.Millisecond
	}
	out.fence, _ = strconv.ParseUint(fence, 10, 64)
	return out, nil
}

// fill sets info's holder fields from one server's answer, with HeldFor
// reckoned at now.
func (in inspected) fill(info *locking.LockInfo, now time.Time) {
	if !in.held {
		return
	}
	info.Held = true
	info.LeaseLeft = in.pttl
	info.Token = in.fence
	if !in.value.Recorded {
		return
	}
	info.Holder = in.value.Holder
	if !info.Holder.Since.IsZero() {
		info.HeldFor = max(now.Sub(info.Holder.Since), 0)
	}
}
