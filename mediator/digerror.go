package mediator

import (
	"errors"
	"fmt"
	"strings"

	"go.uber.org/dig"
)

// This file turns dig's errors into sentences about the user's code. dig
// wraps a failure in one layer per step of its walk through the graph
// ("could not build arguments for function ...", "failed to build T",
// "received non-nil error from function "pkg".F (/abs/path.go:36)"), each
// layer printing its own words before its cause's. explain keeps the steps a
// user can act on — which dependency, built by which constructor (file and
// line), failed how — and drops the rest.

// digErrorPrefixes are the words with which dig's layers begin.
const (
	digArgs        = "could not build arguments for function "
	digBuild       = "failed to build "
	digGroup       = "could not build value group "
	digReturned    = "received non-nil error from function "
	digMissingDeps = "missing dependencies for function "
	digMissing     = "missing type: "
	digMissingMany = "missing types: "
	digProvideFunc = "cannot provide function "
	digProvide     = "cannot provide "
)

// explained is an error with explain's message that unwraps to dig's
// error, so errors.Is and errors.As still find the cause.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// explain rewrites a dig error in the user's terms. registration is true
// when err comes from resolving a registration (see resolve): dig then
// first names the value resolve asked for and the user's own constructor,
// which the message already identifies, so those steps are left out.
func explain(err error, registration bool) error {
	// layers are dig's own words, outermost first, and the root cause.
	var layers []string
	var cause error
	for e := err; e != nil; e = errors.Unwrap(e) {
		if !isDigLayer(e) {
			cause = e
			break
		}
		own := e.Error()
		if inner := errors.Unwrap(e); inner != nil {
			own = strings.TrimSuffix(own, ": "+inner.Error())
		}
		layers = append(layers, own)
	}
	isCtor := func(own string) bool {
		return strings.HasPrefix(own, digArgs) || strings.HasPrefix(own, digReturned) || strings.HasPrefix(own, digMissingDeps)
	}
	// The function dig was asked to call (resolve's or an Invoke's) is
	// named by the message already.
	if len(layers) > 0 && (strings.HasPrefix(layers[0], digArgs) || strings.HasPrefix(layers[0], digProvideFunc)) {
		layers = layers[1:]
	}
	subject := "it"
	if registration {
		subject = "the constructor"
		if len(layers) > 0 && strings.HasPrefix(layers[0], digBuild) {
			layers = layers[1:]
			if len(layers) > 0 && isCtor(layers[0]) {
				layers = layers[1:]
			}
		}
	}
	var b strings.Builder
	named := false // a dependency is named, its constructor not yet
	for _, own := range layers {
		switch {
		case isCtor(own):
			b.WriteString(", whose constructor (" + funcSource(own) + ")")
			named = false
		case strings.HasPrefix(own, digBuild), strings.HasPrefix(own, digGroup):
			what := strings.TrimPrefix(own, digBuild)
			if strings.HasPrefix(own, digGroup) {
				what = "the value group " + strings.TrimPrefix(own, digGroup)
			}
			if b.Len() == 0 {
				b.WriteString(subject)
			}
			b.WriteString(" needs " + what)
			named = true
		case strings.HasPrefix(own, digMissing), strings.HasPrefix(own, digMissingMany):
			what := strings.TrimPrefix(strings.TrimPrefix(own, digMissing), digMissingMany)
			if b.Len() == 0 {
				b.WriteString(subject)
			}
			b.WriteString(" needs " + strings.ReplaceAll(what, "; ", " and ") +
				", which nothing provides: add a constructor of it with mediator.Provide")
			return &explained{msg: b.String(), err: err}
		default:
			// Something else dig has to say (a cycle, say): its words.
			if b.Len() > 0 {
				b.WriteString(": ")
			}
			b.WriteString(own)
		}
	}
	if cause != nil {
		if named {
			b.WriteString(", whose constructor")
		}
		writeCause(&b, cause, subject)
	}
	return &explained{msg: b.String(), err: err}
}

// isDigLayer reports whether e itself (not something it wraps) is one of
// dig's errors.
func isDigLayer(e error) bool {
	_, ok := e.(dig.Error)
	return ok
}

// writeCause ends the sentence with the root cause: the user's error as it
// is, or what a constructor panicked with.
func writeCause(b *strings.Builder, e error, subject string) {
	var pe dig.PanicError
	panicked := errors.As(e, &pe)
	switch {
	case b.Len() == 0 && panicked:
		fmt.Fprintf(b, "%s panicked: %v", subject, pe.Panic)
	case b.Len() == 0:
		b.WriteString(e.Error())
	case panicked:
		fmt.Fprintf(b, " panicked: %v", pe.Panic)
	default:
		b.WriteString(" failed: " + e.Error())
	}
}

// funcSource turns dig's `"pkg/path".Name (/abs/dir/file.go:36)` into
// "dir/file.go:36".
func funcSource(own string) string {
	i := strings.LastIndex(own, " (")
	if i < 0 || !strings.HasSuffix(own, ")") {
		return own
	}
	return shortFile(own[i+2 : len(own)-1])
}

// conflictKey finds, in dig's error for a Provide, the type that another
// constructor already provides ("cannot provide T from [0]: already
// provided by ...").
func conflictKey(err error) (string, bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		own := e.Error()
		if inner := errors.Unwrap(e); inner != nil {
			own = strings.TrimSuffix(own, ": "+inner.Error())
		}
		if strings.HasPrefix(own, digProvide) && !strings.HasPrefix(own, digProvideFunc) {
			key, _, ok := strings.Cut(strings.TrimPrefix(own, digProvide), " from ")
			if ok && strings.Contains(e.Error(), "already provided by") {
				return digKey(key), true
			}
		}
	}
	return "", false
}

// digKey writes a type's key the one way, whether it comes from a conflict
// (`T[name="x"]`) or from dig.ProvideInfo (`T[name = "x"]`).
func digKey(s string) string { return strings.ReplaceAll(s, " = ", "=") }
