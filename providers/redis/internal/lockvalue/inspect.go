package lockvalue

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// InspectScript reads a lock without changing it: its value, its
// remaining lease and the fence counter, which is the holder's token (a
// lock is granted with the counter's new value, and no other grant counts
// it up while the lock is held; a Redlock node's counter is raised to the
// agreed token).
//
// KEYS: lock, fence. Returns {} when nobody holds the lock, else {value,
// lease left in ms, fence counter or ""}.
var InspectScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return {} end
return {v, redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]) or ''}
`)

// Lock is one server's answer to InspectScript.
type Lock struct {
	Held  bool
	Value Value
	// LeaseLeft is the key's remaining lease; 0 when it has no expiry.
	LeaseLeft time.Duration
	// Fence is the key's fence counter; 0 when there is none (it expired
	// while the lock was held longer than TTL + FenceRetention).
	Fence uint64
}

// ReadInspect reads InspectScript's reply.
func ReadInspect(reply any) (Lock, error) {
	a, ok := reply.([]any)
	if !ok {
		return Lock{}, fmt.Errorf("redis: unexpected inspect reply %v", reply)
	}
	if len(a) == 0 {
		return Lock{}, nil
	}
	if len(a) != 3 {
		return Lock{}, fmt.Errorf("redis: unexpected inspect reply %v", reply)
	}
	v, ok1 := a[0].(string)
	pttl, ok2 := a[1].(int64)
	fence, ok3 := a[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return Lock{}, errors.New("redis: unexpected inspect reply types")
	}
	out := Lock{Held: true, Value: Parse(v)}
	if pttl > 0 {
		out.LeaseLeft = time.Duration(pttl) * time.Millisecond
	}
	out.Fence, _ = strconv.ParseUint(fence, 10, 64)
	return out, nil
}

// Fill sets info's holder fields from l, with HeldFor reckoned at now.
func (l Lock) Fill(info *locking.LockInfo, now time.Time) {
	if !l.Held {
		return
	}
	info.Held = true
	info.LeaseLeft = l.LeaseLeft
	info.Token = l.Fence
	if !l.Value.Recorded {
		return
	}
	info.Holder = l.Value.Holder
	if !info.Holder.Since.IsZero() {
		info.HeldFor = max(now.Sub(info.Holder.Since), 0)
	}
}

// Majority is the lock as a majority of Redlock nodes see it: the owner
// that at least quorum of locks agree on, with the earliest grant time any
// of them recorded, the quorum-th largest fence counter (the agreed token:
// a majority stores at least it, and a node that granted late may have
// drawn more) and the quorum-th longest lease left (the lock holds while a
// majority does). ok is false when no owner holds quorum of them.
func Majority(locks []Lock, quorum int) (l Lock, ok bool) {
	for i, a := range locks {
		if !a.Held {
			continue
		}
		owner := a.Value.Owner
		var leases []time.Duration
		var fences []uint64
		out := a
		for _, b := range locks[i:] {
			if !b.Held || b.Value.Owner != owner {
				continue
			}
			leases = append(leases, b.LeaseLeft)
			fences = append(fences, b.Fence)
			if s := b.Value.Holder.Since; !s.IsZero() && (out.Value.Holder.Since.IsZero() || s.Before(out.Value.Holder.Since)) {
				out.Value.Holder.Since = s
			}
			if !out.Value.Recorded && b.Value.Recorded {
				since := out.Value.Holder.Since
				out.Value = b.Value
				out.Value.Holder.Since = since
			}
		}
		if len(leases) < quorum {
			continue
		}
		slices.Sort(leases)
		slices.Sort(fences)
		out.LeaseLeft = leases[len(leases)-quorum]
		out.Fence = fences[len(fences)-quorum]
		return out, true
	}
	return Lock{}, false
}

// MostHeld returns the value, among those Redlock nodes refused an
// acquisition with, whose owner most of them reported ("" for none).
func MostHeld(values []string) string {
	best, most := "", 0
	for i, v := range values {
		owner := Parse(v).Owner
		n := 0
		for _, w := range values[i:] {
			if Parse(w).Owner == owner {
				n++
			}
		}
		if n > most {
			best, most = v, n
		}
	}
	return best
}
