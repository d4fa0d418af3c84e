package redlock

import (
	"fmt"
	"time"

	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
)

// Options configure the Redlock provider: the same type as the single-node
// provider's redis.Options, with the Redlock fields (Nodes, NodeTimeout)
// used here. The zero value (and a nil *Options) means every default.
type Options = base.Options

// Client is the part of a go-redis client the provider uses on each node:
// running its Lua scripts, subscribing to release announcements and PING.
// Every go-redis client has it.
type Client = base.Client

// Scheme starts an Options.Addr that lists independent Redlock nodes:
// "redlock://host1:6379,host2:6379,host3:6379".
const Scheme = base.RedlockScheme

// Errors of the provider; the same values as package redis's.
var (
	// ErrInvalidOptions is wrapped by the error of an invalid [Options]:
	// [New] returns it, and the registrations fail Build with it.
	ErrInvalidOptions = base.ErrInvalidOptions
	// ErrInvalidAddress is wrapped by the error of a malformed node
	// address: the registrations fail Build with it.
	ErrInvalidAddress = base.ErrInvalidAddress
	// ErrClosed is the cause, wrapped in a *locking.UnavailableError, with
	// which TryAcquire fails on a closed provider. It matches
	// locking.ErrClosed.
	ErrClosed = base.ErrClosed
	// ErrEvictionPolicy is wrapped (in an [*EvictionPolicyError]) by the
	// error of a node whose maxmemory-policy may evict keys that have a
	// TTL: Build fails with it unless Options.AllowKeyEviction is set.
	ErrEvictionPolicy = base.ErrEvictionPolicy
)

// EvictionPolicyError names the policy of a node that may evict lock keys
// (Node is its index), and says how to fix it. It matches
// errors.Is(err, ErrEvictionPolicy).
type EvictionPolicyError = base.EvictionPolicyError

// maxDefaultNodeTimeout caps the default Options.NodeTimeout.
const maxDefaultNodeTimeout = time.Second

// redlockSettings are the provider settings plus what only Redlock uses.
type redlockSettings struct {
	base.Settings
	nodeTimeout time.Duration
	// drift is the allowance for clocks that run at different rates on the
	// client and the nodes: a lease is vouched for until TTL - drift after
	// the request that obtained or extended it was sent.
	drift time.Duration
}

// settingsOf applies the defaults to o (nil means every default) and checks
// the Redlock constraints on top of the single-node ones.
func settingsOf(o *Options) (redlockSettings, error) {
	s, err := base.SettingsOf(o)
	if err != nil {
		return redlockSettings{}, err
	}
	rs := redlockSettings{Settings: s, drift: s.DriftMargin()}
	if o != nil {
		rs.nodeTimeout = o.NodeTimeout
	}
	if rs.nodeTimeout == 0 {
		rs.nodeTimeout = min(s.TTL/10, maxDefaultNodeTimeout)
	}
	if rs.nodeTimeout <= 0 || rs.nodeTimeout >= s.TTL-rs.drift {
		return rs, fmt.Errorf("%w: NodeTimeout %s must be positive and shorter than TTL %s minus the clock drift allowance %s", base.ErrInvalidOptions, rs.nodeTimeout, s.TTL, rs.drift)
	}
	// An extension must be able to start, and answer, before the lease it
	// extends is no longer vouched for.
	if s.Refresh+rs.nodeTimeout >= s.TTL-rs.drift {
		return rs, fmt.Errorf("%w: RefreshInterval %s plus NodeTimeout %s must be shorter than TTL %s minus the clock drift allowance %s", base.ErrInvalidOptions, s.Refresh, rs.nodeTimeout, s.TTL, rs.drift)
	}
	return rs, nil
}
