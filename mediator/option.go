package mediator

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
)

// Option configures a mediator being built: it registers a handler, a
// behavior, a service, or a setting. Options are made by package-level
// functions such as [WithHandler] and applied by Build in the order given.
// The interface is sealed; extension packages compose the options this package
// offers (see [Options]).
type Option interface {
	apply(b *Builder) error
	// String names the option and where it was created, for error messages.
	String() string
}

type option struct {
	name   string
	source string
	fn     func(b *Builder) error
}

func (o *option) apply(b *Builder) error {
	err := o.fn(b)
	if err == nil {
		return nil
	}
	var dup *DuplicateServiceError
	if errors.As(err, &dup) {
		return err // it names both registrations already
	}
	return fmt.Errorf("%s: %w", o, err)
}

func (o *option) String() string {
	if o.source == "" {
		return o.name
	}
	return o.name + " (at " + o.source + ")"
}

func newOption(name, source string, fn func(b *Builder) error) Option {
	return &option{name: name, source: source, fn: fn}
}

type group struct {
	name string
	opts []Option
}

func (g *group) apply(b *Builder) error {
	if b.group == "" {
		// Registrations made inside name the outermost group, without
		// its type arguments: "locking.WithDistributedLocking".
		name, _, _ := strings.Cut(g.name, "[")
		b.group = name
		defer func() { b.group = "" }()
	}
	for i, o := range g.opts {
		if o == nil {
			return fmt.Errorf("%s: option %d of %d is nil", g.name, i+1, len(g.opts))
		}
		if err := o.apply(b); err != nil {
			return err
		}
	}
	return nil
}

func (g *group) String() string { return g.name }

// Options groups several options under one name, so an extension package can
// offer one Option that registers a provider, a behavior and its settings.
func Options(name string, opts ...Option) Option {
	return &group{name: name, opts: opts}
}

// Failed returns an Option that fails Build with err. Extension packages use
// it to report bad arguments (a malformed address, say) without panicking.
// Since such an option registers nothing, Build then reports the options'
// problems alone: a constructor that needed what it would have registered
// is not called, so no false "not registered" follows the real mistake.
func Failed(name string, err error) Option {
	src := callerSource()
	return newOption(name, src, func(b *Builder) error {
		b.failed = true
		return err
	})
}

// libraryPackages are the packages whose frames callerSource skips, so a
// registration made through an extension package points at the user's code.
var libraryPackages = []string{
	"github.com/turbomediator/turbomediator-go/mediator.",
	"github.com/turbomediator/turbomediator-go/mediator/mediatortest.",
	"github.com/turbomediator/turbomediator-go/registry.",
	"github.com/turbomediator/turbomediator-go/behaviors/",
	"github.com/turbomediator/turbomediator-go/providers/",
	"github.com/turbomediator/turbomediator-go/observability/",
}

// callerSource returns "file:line" of the first caller outside the library.
// It runs when an option is created, never per Send.
func callerSource() string {
	var pcs [16]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !isLibraryFrame(f) {
			return shortFile(f.File) + ":" + fmt.Sprint(f.Line)
		}
		if !more {
			return ""
		}
	}
}

func isLibraryFrame(f runtime.Frame) bool {
	if strings.HasSuffix(f.File, "_test.go") {
		return false
	}
	for _, p := range libraryPackages {
		if strings.HasPrefix(f.Function, p) {
			return true
		}
	}
	return false
}

// shortFile keeps the last two path elements: enough to find the file.
func shortFile(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return path
	}
	if j := strings.LastIndexByte(path[:i], '/'); j >= 0 {
		return path[j+1:]
	}
	return path
}
