package locking_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// callSite returns "dir/file.go:line" of its caller, the form Build errors
// use for registration sites. Call it on the same line as the registration.
func callSite() string {
	_, file, line, _ := runtime.Caller(1)
	dir, name := file[:strings.LastIndexByte(file, '/')], file[strings.LastIndexByte(file, '/')+1:]
	return dir[strings.LastIndexByte(dir, '/')+1:] + "/" + name + ":" + strconv.Itoa(line)
}

type badTagCommand struct {
	mediator.Command[int]
	locking.DistributedLock `lock:"timeout=abc"`
}

// TestABadTagReadsInTheUsersWords: the Build error of a malformed tag starts
// with the message type and the line of WithDistributedLocking, then gives
// the locking package's own explanation — none of dig's wrapping (the
// behavior constructor's name, register.go, "received non-nil error").
func TestABadTagReadsInTheUsersWords(t *testing.T) {
	opt, at := locking.WithDistributedLocking[badTagCommand, int](), callSite()
	_, err := mediator.New(memory.WithInMemoryDistributedLocking(), opt,
		mediator.WithHandler[badTagCommand, int](func(context.Context, badTagCommand) (int, error) { return 0, nil }))
	var re *mediator.RegistrationError
	if !errors.As(err, &re) {
		t.Fatalf("Build = %v; want a *mediator.RegistrationError", err)
	}
	var tagErr *locking.TagError
	if !errors.As(err, &tagErr) {
		t.Fatalf("Build = %v; want it to wrap a *locking.TagError", err)
	}
	// The cause is the locking package's text, whatever it says: here only
	// what the mediator puts around it is pinned down.
	want := "mediator: build: locking_test.badTagCommand: locking.WithDistributedLocking (at " + at + "): " + re.Err.Error()
	if err.Error() != want {
		t.Errorf("Build error =\n%s\nwant\n%s", err, want)
	}
	if !strings.HasPrefix(re.Err.Error(), "locking: ") {
		t.Errorf("cause %q does not start with the locking package's own words", re.Err)
	}
	for _, internal := range []string{"received non-nil error", "failed to build", "register.go", "func1", "dig"} {
		if strings.Contains(err.Error(), internal) {
			t.Errorf("Build error %q shows dig's internals (%q)", err, internal)
		}
	}
}

type lockDatabase struct{}

type databaseProvider struct{ locking.NoOpProvider }

// TestAProviderMissingADependencyIsReportedAlone: the container hands the
// behaviors no provider when the registered one lacks a dependency; Build
// reports the missing dependency under the provider's registration, not a
// false "no lock provider is registered" for every locked type.
func TestAProviderMissingADependencyIsReportedAlone(t *testing.T) {
	opt, at := locking.WithDistributedLockProvider[*databaseProvider](func(*lockDatabase) *databaseProvider { return &databaseProvider{} }), callSite()
	for name, locked := range map[string]mediator.Option{
		"per type": locking.WithDistributedLocking[AccountCommand, int](),
		"global":   locking.WithGlobalDistributedLocking(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mediator.New(opt, locked,
				mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }))
			want := "mediator: build: locking.WithDistributedLockProvider (at " + at + "): it needs locking.Provider, whose constructor (" + at +
				") needs *locking_test.lockDatabase, which nothing provides: add a constructor of it with mediator.Provide"
			if err == nil || err.Error() != want {
				t.Fatalf("Build =\n%v\nwant\n%s", err, want)
			}
			if errors.Is(err, locking.ErrNoProvider) {
				t.Fatalf("Build = %v; a provider is registered, so not ErrNoProvider", err)
			}
		})
	}
}

// TestNoProviderAtAllIsStillErrNoProvider: the case above must not hide
// the plain mistake.
func TestNoProviderAtAllIsStillErrNoProvider(t *testing.T) {
	_, err := mediator.New(locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }))
	if !errors.Is(err, locking.ErrNoProvider) {
		t.Fatalf("Build = %v; want ErrNoProvider", err)
	}
}

// TestABadTagUnderGlobalLockingReadsInTheUsersWords: the same for a type the
// global behavior covers; the line is that of WithGlobalDistributedLocking.
func TestABadTagUnderGlobalLockingReadsInTheUsersWords(t *testing.T) {
	opt, at := locking.WithGlobalDistributedLocking(), callSite()
	_, err := mediator.New(memory.WithInMemoryDistributedLocking(), opt,
		mediator.WithHandler[badTagCommand, int](func(context.Context, badTagCommand) (int, error) { return 0, nil }))
	var re *mediator.RegistrationError
	if !errors.As(err, &re) {
		t.Fatalf("Build = %v; want a *mediator.RegistrationError", err)
	}
	want := "mediator: build: locking_test.badTagCommand: locking.WithGlobalDistributedLocking (at " + at + "): " + re.Err.Error()
	if err.Error() != want {
		t.Errorf("Build error =\n%s\nwant\n%s", err, want)
	}
	var tagErr *locking.TagError
	if !errors.As(err, &tagErr) {
		t.Fatalf("Build = %v; want it to wrap a *locking.TagError", err)
	}
}
