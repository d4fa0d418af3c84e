package locking

import (
	"fmt"
	"time"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// Options are the settings of the locking behavior. The zero value is not
// the default: configure functions receive a copy filled with the defaults
// (or with what [WithDefaults] set) and change what they need.
//
// Where a setting comes from, highest first: what the configure functions of
// the message type's own [WithDistributedLocking] set; the type's
// [DistributedLock] tag; the global defaults of [WithDefaults] (and, for the
// types it locks, [WithGlobalDistributedLocking]); the built-in defaults.
type Options struct {
	// DefaultTimeout is how long to wait for a lock when the tag sets no
	// timeout. 0 means one try that fails at once. Default 30s.
	DefaultTimeout time.Duration
	// GlobalKeyPrefix is put before every key with a ":" ("myapp" gives
	// "myapp:WithdrawCommand:42"). Default "" (nothing).
	GlobalKeyPrefix string
	// DefaultThrowIfNotAcquired says whether a lock not had in time is an
	// error (true, the default) or skips the handler and returns the zero
	// response and a nil error (false).
	DefaultThrowIfNotAcquired bool
	// KeyPrefix replaces the key prefix of one message type, for types you
	// cannot tag. Only a per-type [WithDistributedLocking] may set it; set in
	// [WithDefaults] or [WithGlobalDistributedLocking] it fails Build, since
	// every type would then share its locks. Default "": the tag's prefix, or
	// the type's name.
	KeyPrefix string
}

// DefaultTimeout is the built-in wait for a lock.
const DefaultTimeout = 30 * time.Second

func builtinOptions() Options {
	return Options{DefaultTimeout: DefaultTimeout, DefaultThrowIfNotAcquired: true}
}

// defaultsRegistration is what WithDefaults puts in the container; a second
// WithDefaults is refused by the container, naming both places.
type defaultsRegistration struct {
	configure []func(*Options)
}

// WithDefaults sets the global defaults of the locking behavior for every
// message type of the mediator. Per-type registrations and tags still win
// over them. A mediator takes one WithDefaults. Options that cannot work (a
// KeyPrefix, a negative DefaultTimeout) fail Build naming the line of this
// call.
func WithDefaults(configure ...func(*Options)) mediator.Option {
	reg := &defaultsRegistration{configure: configure}
	if err := checkGlobal(configured(builtinOptions(), configure)); err != nil {
		return mediator.Failed("locking.WithDefaults", err)
	}
	return mediator.Options("locking.WithDefaults",
		mediator.Provide(func() *defaultsRegistration { return reg }))
}

// checkGlobal refuses global options that cannot work, in words that say
// what to change.
func checkGlobal(o Options) error {
	if o.KeyPrefix != "" {
		return fmt.Errorf("locking: KeyPrefix %q here would give every message type the same locks: set it per type, in the options of locking.WithDistributedLocking[T, R] or with a prefix= tag", o.KeyPrefix)
	}
	if o.DefaultTimeout < 0 {
		return fmt.Errorf("locking: negative DefaultTimeout %s: use 0 for one try that fails at once, or a positive wait", o.DefaultTimeout)
	}
	return nil
}

// globalOptions applies the built-in defaults, then WithDefaults, then extra
// (the configure functions of a global registration).
func globalOptions(d *defaultsRegistration, extra []func(*Options), where string) (Options, error) {
	o := builtinOptions()
	if d != nil {
		o = configured(o, d.configure)
	}
	o = configured(o, extra)
	if err := checkGlobal(o); err != nil {
		return o, fmt.Errorf("%s with locking.WithDefaults: %w", where, err)
	}
	return o, nil
}

// configured runs fns on a copy of o, so nothing configured for one type can
// reach another.
func configured(o Options, fns []func(*Options)) Options {
	for _, fn := range fns {
		if fn != nil {
			fn(&o)
		}
	}
	return o
}

// setFields tells which fields fns set. It runs fns on two copies whose
// fields all differ; a field fns assign comes out equal in both, one they
// leave alone keeps the two different values. So "set DefaultTimeout to 30s"
// counts as set even though 30s is the default. Configure functions must
// therefore be plain assignments without side effects.
type setFields struct {
	timeout, globalPrefix, throw, keyPrefix bool
	values                                  Options
}

func whatIsSet(base Options, fns []func(*Options)) setFields {
	a := configured(Options{DefaultTimeout: 1, GlobalKeyPrefix: "a", DefaultThrowIfNotAcquired: false, KeyPrefix: "a"}, fns)
	b := configured(Options{DefaultTimeout: 2, GlobalKeyPrefix: "b", DefaultThrowIfNotAcquired: true, KeyPrefix: "b"}, fns)
	return setFields{
		timeout:      a.DefaultTimeout == b.DefaultTimeout,
		globalPrefix: a.GlobalKeyPrefix == b.GlobalKeyPrefix,
		throw:        a.DefaultThrowIfNotAcquired == b.DefaultThrowIfNotAcquired,
		keyPrefix:    a.KeyPrefix == b.KeyPrefix,
		values:       configured(base, fns),
	}
}
