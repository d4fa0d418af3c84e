package base

import (
	"math/rand/v2"
	"time"

	"github.com/bsm/redislock"
)

// NextWait is how long a waiter sleeps before its next timed try: the retry
// strategy's next backoff, jittered between half and all of it so the waiters
// of one release do not retry in step, and no later than just after the
// holder's lease ends when its remaining time is known (a lease nobody
// extends ends at a known moment). 0 means no timed try.
func NextWait(retry redislock.RetryStrategy, remaining time.Duration) time.Duration {
	d := retry.NextBackoff()
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	if remaining > 0 && (d <= 0 || remaining+time.Millisecond < d) {
		d = remaining + time.Millisecond
	}
	return d
}

// UntilRefresh is how long after now the next extension of a lease whose
// last grant or extension was sent at requested is due: the refresh
// interval counts from the send, as the lease does, not from the reply,
// which a slow link or a busy machine may delay by a good part of it.
func UntilRefresh(requested time.Time, refresh time.Duration) time.Duration {
	return max(refresh-time.Since(requested), 0)
}
