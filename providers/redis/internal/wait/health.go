package wait

import (
	"context"
	"errors"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// defaultHealthCheck is how long the subscription connection may be silent
// before it is pinged. A connection that a firewall or a partition silently
// dropped raises no error; without this check the waiters would fall back
// to their backoff retries until the kernel gave up on the socket.
const defaultHealthCheck = 5 * time.Second

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// current returns the subscription connection the loop should read, or nil
// once the waiters are closed.
func (ws *Waiters) current() *goredis.PubSub {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return nil
	}
	return ws.ps
}

// overdue reports whether some subscription has waited for its confirmation
// longer than the health interval.
func (ws *Waiters) overdue() bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, q := range ws.queues {
		if !q.confirmed && time.Since(q.subscribed) > ws.health {
			return true
		}
	}
	return false
}

// reconnect replaces a subscription connection presumed dead with a new one
// subscribed to every channel that has waiters, and wakes every waiter, since
// announcements may have been lost. It is called by the loop only; close and
// reconnect exclude each other through the command lock, so a closed waiters never gets
// a new connection.
func (ws *Waiters) reconnect() {
	ws.lockCmd()
	defer ws.unlockCmd()
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		return
	}
	old := ws.ps
	ws.ps = ws.client.Subscribe(context.Background())
	ws.replaced++
	channels := make([]string, 0, len(ws.queues))
	now := time.Now()
	for ch, q := range ws.queues {
		channels = append(channels, ch)
		q.confirmed, q.subscribed = false, now
	}
	ps := ws.ps
	ws.mu.Unlock()
	_ = old.Close()
	if len(channels) > 0 {
		// A failure leaves the channels registered with go-redis, which
		// subscribes them when the loop's next Receive connects.
		ctx, cancel := context.WithTimeout(context.Background(), ws.health)
		_ = ps.Subscribe(ctx, channels...)
		cancel()
	}
	ws.wakeAll()
}
