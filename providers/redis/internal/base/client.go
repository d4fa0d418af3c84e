package base

import (
	"context"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// Client is the part of a go-redis client the provider uses: running its
// Lua scripts, subscribing to release announcements and PING. Every go-redis
// client has it.
type Client interface {
	goredis.Scripter
	Subscribe(ctx context.Context, channels ...string) *goredis.PubSub
	Ping(ctx context.Context) *goredis.StatusCmd
}

// ErrClosed is the cause, wrapped in a *locking.UnavailableError, with
// which TryAcquire fails on a closed provider (redis.Provider or redlock.Provider),
// and with which Close ends the waits in progress. It matches
// locking.ErrClosed, the one answer of every closed provider.
var ErrClosed error = closedError{}

// closedError is ErrClosed's type: its own words, and errors.Is matches
// locking.ErrClosed too.
type closedError struct{}

func (closedError) Error() string { return "redis: provider closed" }

func (closedError) Is(target error) bool { return target == locking.ErrClosed }
