package locking

import (
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"

	"go.uber.org/dig"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// registrationKey files a type's WithDistributedLocking under its message
// type, where the global behavior and a second registration can see it.
type registrationKey struct{}

type registration struct {
	configure []func(*Options)
}

// WithDistributedLocking makes the handler of Req run only while Req's lock
// is held. configure functions adjust the settings of Req alone: what they
// set wins over Req's [DistributedLock] tag, which wins over the global
// defaults ([WithDefaults]). They run on a copy, at Build, and must be plain
// assignments (they may run more than once).
//
// Build fails when no lock provider is registered ([ErrNoProvider]), when
// Req's tag is malformed ([*TagError]), and when WithDistributedLocking is
// given twice for Req.
func WithDistributedLocking[Req mediator.Message[Res], Res any](configure ...func(*Options)) mediator.Option {
	t := reflect.TypeFor[Req]()
	name := "locking.WithDistributedLocking[" + t.String() + "]"
	reg := &registration{configure: configure}
	if reg.configure == nil {
		reg.configure = []func(*Options){}
	}
	claim := typeClaim{t: t, configure: reg.configure, source: callerLine()}
	return mediator.Options(name,
		mediator.WithMessageOption[Req](registrationKey{}, reg),
		mediator.Provide(func() typeClaim { return claim }, dig.Group(claimGroup)),
		mediator.WithBehavior[Req, Res](func(mt mediator.MessageType, d deps) (mediator.Behavior[Req, Res], error) {
			if regs := mt.Options(registrationKey{}); len(regs) > 1 && regs[0] != reg {
				return nil, fmt.Errorf("locking: WithDistributedLocking is registered %d times for %s: keep one", len(regs), t)
			}
			if err := d.check(name); err != nil {
				return nil, err
			}
			global, err := globalOptions(d.Defaults, nil, "locking.WithDistributedLocking")
			if err != nil {
				return nil, err
			}
			tl, err := resolve(t, global, reg.configure, &d)
			if err != nil {
				return nil, err
			}
			if claim.defaultPrefix(global) != "" {
				if err := checkCollision(t, tl.prefix, claim.source, global, d.Claims); err != nil {
					return nil, err
				}
			}
			return newBehavior[Req, Res](tl)
		}))
}

// globalRegistration is what WithGlobalDistributedLocking puts in the
// container; a second one is refused by the container, naming both places.
type globalRegistration struct{}

// WithGlobalDistributedLocking locks every message type that embeds the
// [DistributedLock] marker, with its tag's settings. Types without the
// marker are not wrapped at all. A type with its own [WithDistributedLocking]
// is locked by that one instead, not twice.
//
// configure functions adjust the defaults of the types this locks, like
// [WithDefaults] (tags still win); setting KeyPrefix here fails Build. The
// global behavior sees messages as any, so it costs an allocation or two per
// Send more than the per-type form.
func WithGlobalDistributedLocking(configure ...func(*Options)) mediator.Option {
	reg := &globalRegistration{}
	if err := checkGlobal(configured(builtinOptions(), configure)); err != nil {
		return mediator.Failed("locking.WithGlobalDistributedLocking", err)
	}
	return mediator.Options("locking.WithGlobalDistributedLocking",
		mediator.Provide(func() *globalRegistration { return reg }),
		mediator.WithGlobalBehavior(func(_ *globalRegistration, d deps) (mediator.GlobalBehavior, error) {
			if err := d.check("WithGlobalDistributedLocking"); err != nil {
				return nil, err
			}
			o, err := globalOptions(d.Defaults, configure, "locking.WithGlobalDistributedLocking")
			if err != nil {
				return nil, err
			}
			return &globalBehavior{options: o, deps: &d, types: make(map[reflect.Type]*typeLock), byDefault: make(map[string]reflect.Type)}, nil
		}))
}

// callerLine returns "dir/file.go:line" of the first caller outside this
// module's library packages (test files count as the user's), the form the
// mediator gives registration sites in.
func callerLine() string {
	var pcs [16]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		library := strings.HasPrefix(f.Function, "github.com/turbomediator/turbomediator-go/") &&
			!strings.HasPrefix(f.Function, "github.com/turbomediator/turbomediator-go/samples/") &&
			!strings.HasSuffix(f.File, "_test.go")
		if !library {
			file := f.File
			if i := strings.LastIndexByte(file, '/'); i >= 0 {
				if j := strings.LastIndexByte(file[:i], '/'); j >= 0 {
					file = file[j+1:]
				}
			}
			return file + ":" + strconv.Itoa(f.Line)
		}
		if !more {
			return ""
		}
	}
}
