package locktest

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// Defaults of the bounds the kit holds a provider to.
const (
	// DefaultTimeoutSlack is how much later than its timeout (or its
	// context's end) a TryAcquire may return, and how long a single try
	// (timeout 0) or an acquisition against an unreachable backend may take.
	// It is generous because test machines are busy; a provider that ignores
	// its timeout or its context still fails.
	DefaultTimeoutSlack = 2 * time.Second
	// DefaultLostWithin is how long after the backend forgot a lock (or went
	// away) the handle's Lost channel must be closed: tests give the provider
	// a lease well below it.
	DefaultLostWithin = 30 * time.Second
	// DefaultInstances, DefaultGoroutines and DefaultAcquisitions shape the
	// exclusion check: DefaultGoroutines goroutines on each of
	// DefaultInstances providers take the key DefaultAcquisitions times each.
	DefaultInstances    = 3
	DefaultGoroutines   = 3
	DefaultAcquisitions = 20
)

// Factory opens a new provider on the backend shared by every provider the
// factory makes, and registers its clean-up (Close, closing a client) with
// t.Cleanup. It fails t if it cannot.
type Factory func(t *testing.T) locking.Provider

// Option declares a capability of the provider under test or changes a bound
// of the kit. Each option names itself (String) for logs.
type Option interface {
	apply(*config)
	// String names the option, for the kit's log.
	String() string
}

type config struct {
	slack        time.Duration
	lostWithin   time.Duration
	instances    int
	goroutines   int
	acquisitions int
	fifo         bool
	unreachable  Factory
	forget       func(t *testing.T, key string)
	stop, start  func(t *testing.T)
	leakOptions  []goleak.Option
}

func defaultConfig() config {
	return config{
		slack:        DefaultTimeoutSlack,
		lostWithin:   DefaultLostWithin,
		instances:    DefaultInstances,
		goroutines:   DefaultGoroutines,
		acquisitions: DefaultAcquisitions,
	}
}

type option struct {
	name string
	set  func(*config)
}

func (o option) apply(c *config) { o.set(c) }
func (o option) String() string  { return o.name }

// WithTimeoutSlack sets how much later than its timeout or its context's end
// a TryAcquire may return, and the bound of a single try (timeout 0) and of
// an acquisition against an unreachable backend. Default
// [DefaultTimeoutSlack].
func WithTimeoutSlack(d time.Duration) Option {
	return option{fmt.Sprintf("locktest.WithTimeoutSlack(%s)", d), func(c *config) { c.slack = d }}
}

// WithLostWithin sets how long after the backend forgot a lock (or went
// away, with [WithOutage]) the handle's Lost must be closed. Default
// [DefaultLostWithin].
func WithLostWithin(d time.Duration) Option {
	return option{fmt.Sprintf("locktest.WithLostWithin(%s)", d), func(c *config) { c.lostWithin = d }}
}

// WithExclusionLoad shapes the exclusion check: goroutines goroutines on
// each of instances providers take one key acquisitions times each. Values
// below 1 keep the default; instances is at least 2.
func WithExclusionLoad(instances, goroutines, acquisitions int) Option {
	return option{fmt.Sprintf("locktest.WithExclusionLoad(%d, %d, %d)", instances, goroutines, acquisitions), func(c *config) {
		if instances >= 2 {
			c.instances = instances
		}
		if goroutines >= 1 {
			c.goroutines = goroutines
		}
		if acquisitions >= 1 {
			c.acquisitions = acquisitions
		}
	}}
}

// WithFIFO declares that waiters of one provider instance are served in the
// order they started waiting. The provider must have a method
// Waiters(key string) int counting the callers it has waiting for key.
func WithFIFO() Option {
	return option{"locktest.WithFIFO()", func(c *config) { c.fifo = true }}
}

// WithUnreachable declares how to open a provider whose backend does not
// answer (nothing listening at its address, say); the kit checks that it
// reports [locking.ErrUnavailable], never [locking.ErrNotAcquired].
func WithUnreachable(f Factory) Option {
	return option{"locktest.WithUnreachable(...)", func(c *config) { c.unreachable = f }}
}

// WithForget declares how to make the shared backend forget the lock on key
// (delete its storage key) while it is held; the kit checks that the
// handle's Lost channel then closes.
func WithForget(forget func(t *testing.T, key string)) Option {
	return option{"locktest.WithForget(...)", func(c *config) { c.forget = forget }}
}

// WithOutage declares how to stop the shared backend and start it again;
// the kit checks that acquisitions report [locking.ErrUnavailable] while it
// is down, that a held handle's Lost closes, and that the key can be taken
// again once start returned.
func WithOutage(stop, start func(t *testing.T)) Option {
	return option{"locktest.WithOutage(...)", func(c *config) { c.stop, c.start = stop, start }}
}

// WithLeakOptions passes goleak options (goroutines of a client library
// that may linger for a bounded time, say) to the leak check.
func WithLeakOptions(opts ...goleak.Option) Option {
	return option{fmt.Sprintf("locktest.WithLeakOptions(%d options)", len(opts)), func(c *config) {
		c.leakOptions = append(c.leakOptions, opts...)
	}}
}
