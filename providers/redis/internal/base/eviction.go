package base

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"
)

// ErrEvictionPolicy is wrapped (in an [*EvictionPolicyError]) by the error
// of a Redis whose maxmemory-policy may evict keys that have a TTL, which
// every lock key has: Build fails with it, and so does every new connection
// of a client the provider creates, unless Options.AllowKeyEviction is set.
var ErrEvictionPolicy = errors.New("redis: the server's maxmemory-policy may evict lock keys")

// EvictionPolicyError names the policy of a server that may evict lock keys,
// and says how to fix it. It matches errors.Is(err, ErrEvictionPolicy).
type EvictionPolicyError struct {
	// Node is the Redlock node's index, or -1 for the single-node provider.
	Node int
	// Policy is the server's maxmemory-policy, "allkeys-lru" say.
	Policy string
}

// Error names the policy and says how to fix it.
func (e *EvictionPolicyError) Error() string {
	where := "the server"
	if e.Node >= 0 {
		where = fmt.Sprintf("Redlock node %d", e.Node)
	}
	return fmt.Sprintf("redis: %s has maxmemory-policy %q, which may evict a held lock (a second holder is then granted while the first still runs) or a fencing counter (tokens may then stop growing) when memory runs short; "+
		"set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf), give the locks a Redis of their own, "+
		"or set Options.AllowKeyEviction to accept the risk", where, e.Policy)
}

// Unwrap returns ErrEvictionPolicy.
func (e *EvictionPolicyError) Unwrap() error { return ErrEvictionPolicy }

// EvictionCheck checks a server's maxmemory-policy: at Build, and, as the
// OnConnect hook of the clients the provider creates, on every new
// connection (a server restarted or failed over with another configuration
// is caught when the client reconnects). A server that refuses CONFIG GET
// (managed Redis often does) is logged once as a warning and accepted.
type EvictionCheck struct {
	allow  bool
	logger *slog.Logger
	node   int
	warned atomic.Bool
}

// NewEvictionCheck returns the check for s; node is the Redlock node's
// index, or -1 for the single-node provider.
func NewEvictionCheck(s Settings, node int) *EvictionCheck {
	return &EvictionCheck{allow: s.AllowEviction, logger: s.Logger, node: node}
}

// configGetter is the part of a go-redis client or connection that the
// check needs.
type configGetter interface {
	ConfigGet(ctx context.Context, parameter string) *goredis.MapStringStringCmd
}

// Check returns an *EvictionPolicyError when c's server may evict lock keys
// and that was not allowed. It returns nil when the server answers with a
// safe policy, refuses CONFIG GET (with a warning), or cannot be reached
// (the caller's other calls report that).
func (e *EvictionCheck) Check(ctx context.Context, c any) error {
	if e.allow {
		return nil
	}
	cg, ok := c.(configGetter)
	if !ok {
		e.warn("the client cannot send CONFIG GET")
		return nil
	}
	res, err := cg.ConfigGet(ctx, "maxmemory-policy").Result()
	var rerr goredis.Error
	switch {
	case errors.Is(err, ErrEvictionPolicy):
		return err // from the OnConnect hook of the connection used
	case errors.As(err, &rerr):
		if isSentinel(ctx, c) {
			// go-redis runs the hook on its connections to the Sentinels
			// too, which hold no keys.
			return nil
		}
		e.warn(err.Error())
		return nil
	case err != nil:
		return nil
	}
	policy, ok := res["maxmemory-policy"]
	switch {
	case !ok:
		e.warn("CONFIG GET maxmemory-policy returned nothing")
		return nil
	case policy == "noeviction":
		return nil
	}
	return &EvictionPolicyError{Node: e.node, Policy: policy}
}

// OnConnect is the OnConnect hook of a client the provider creates: a new
// connection to a server that may evict lock keys fails. go-redis unwraps
// the hook's error once, so it comes back as the *EvictionPolicyError.
func (e *EvictionCheck) OnConnect(ctx context.Context, cn *goredis.Conn) error {
	if err := e.Check(ctx, cn); err != nil {
		return fmt.Errorf("redis: checking a new connection: %w", err)
	}
	return nil
}

// isSentinel reports whether c is a connection to a Sentinel, which
// refuses CONFIG GET.
func isSentinel(ctx context.Context, c any) bool {
	ic, ok := c.(interface {
		Info(ctx context.Context, section ...string) *goredis.StringCmd
	})
	if !ok {
		return false
	}
	info, err := ic.Info(ctx, "server").Result()
	return err == nil && strings.Contains(info, "redis_mode:sentinel")
}

func (e *EvictionCheck) warn(reason string) {
	if e.warned.Swap(true) {
		return
	}
	attrs := []any{slog.String("reason", reason)}
	if e.node >= 0 {
		attrs = append(attrs, slog.Int("node", e.node))
	}
	e.logger.Warn("redis locks: could not check the server's maxmemory-policy; a policy other than noeviction may evict held locks and fencing counters (see docs/reliability.md)", attrs...)
}
