package redlock_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
)

// Helpers of the single-node provider's tests (providers/redis) that the
// Redlock tests need too and that use their types; the rest are shared
// through internal/redistesting.

type WithdrawCommand struct {
	mediator.Command[int64]
	locking.DistributedLock `lock:"prefix=account,timeout=5s"`
	AccountID               string
	Amount                  int64
}

func (c WithdrawCommand) LockKey() string { return c.AccountID }

func withdrawHandler(ctx context.Context, c WithdrawCommand) (int64, error) {
	lock, _ := locking.FromContext(ctx)
	// Write with lock.Token() as the fence: see docs/fencing.md.
	_ = lock.Token()
	return 0, nil
}

// lossyClient is a client whose next script replies can be lost: the script
// runs on Redis, and the caller gets io.EOF instead of its answer, as when a
// connection is reset after the server ran the command.
type lossyClient struct {
	*goredis.Client
	lose atomic.Int32 // how many of the next successful script replies to lose
	// answered counts the script calls answered without an error (a
	// NOSCRIPT that go-redis follows with EVAL is not counted).
	answered atomic.Int32
}

func (c *lossyClient) loseNext(n int32) { c.lose.Store(n) }

func (c *lossyClient) filter(cmd *goredis.Cmd) *goredis.Cmd {
	if cmd.Err() == nil {
		c.answered.Add(1)
		for {
			n := c.lose.Load()
			if n <= 0 {
				break
			}
			if c.lose.CompareAndSwap(n, n-1) {
				cmd.SetErr(io.EOF)
				break
			}
		}
	}
	return cmd
}

func (c *lossyClient) Eval(ctx context.Context, script string, keys []string, args ...any) *goredis.Cmd {
	return c.filter(c.Client.Eval(ctx, script, keys, args...))
}

func (c *lossyClient) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *goredis.Cmd {
	return c.filter(c.Client.EvalSha(ctx, sha1, keys, args...))
}

// buildWith builds a mediator whose one locked command (tryWithdraw: one
// try) uses the provider opt registers.
func buildWith(opt mediator.Option) (*mediator.Mediator, error) {
	return mediator.New(opt,
		locking.WithDistributedLocking[tryWithdraw, uint64](),
		mediator.WithHandler[tryWithdraw, uint64](func(context.Context, tryWithdraw) (uint64, error) { return 1, nil }),
	)
}

// closedAnswer checks the one answer of a closed provider: no lock, and an
// error matching locking.ErrClosed (and ErrUnavailable) — never go-redis's
// raw "redis: client is closed".
func closedAnswer(t *testing.T, what string, h locking.Handle, err error) {
	t.Helper()
	if h != nil {
		_ = h.Release(context.Background())
		t.Fatalf("%s granted a lock after Close", what)
	}
	if !errors.Is(err, locking.ErrClosed) || !errors.Is(err, redislocks.ErrClosed) || !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("%s = %v; want locking.ErrClosed, redis.ErrClosed and ErrUnavailable", what, err)
	}
}

// frozenSlack is what a loaded machine may add to a bound: far below
// what an unbounded call would wait for (frozenNodeTimeout, on clients
// whose read timeout is longer still).
const frozenSlack = 5 * time.Second

// frozenNodeTimeout is the NodeTimeout of the frozen-majority test: an
// attempt that waited for the frozen nodes would take this long.
const frozenNodeTimeout = 15 * time.Second

// medianRTT is the PING round trip to addr through go-redis, busy and idle
// (see redistesting.RTT).
func medianRTT(b *testing.B, addr string) redistesting.RTT {
	c := newClient(b, addr)
	return redistesting.MeasureRTT(b, func() error { return c.Ping(context.Background()).Err() })
}

func stopAll(srvs []*redistest.Server) {
	for _, s := range srvs {
		s.Stop()
	}
}

func restartAll(srvs []*redistest.Server) {
	for _, s := range srvs {
		s.Restart()
	}
}

// tryWithdraw is withdraw with one try and no wait.
type tryWithdraw struct {
	mediator.Command[uint64]
	locking.DistributedLock `lock:"prefix=withdraw,timeout=0"`
	Account                 string
}

func (w tryWithdraw) LockKey() string { return w.Account }
