package redis_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// callSite returns "dir/file.go:line" of its caller, the form Build errors
// use for registration sites. Call it on the same line as the registration.
func callSite() string {
	_, file, line, _ := runtime.Caller(1)
	dir, name := file[:strings.LastIndexByte(file, '/')], file[strings.LastIndexByte(file, '/')+1:]
	return dir[strings.LastIndexByte(dir, '/')+1:] + "/" + name + ":" + strconv.Itoa(line)
}

type buildErrCmd struct {
	mediator.Command[int]
	locking.DistributedLock
}

func buildErrHandler(context.Context, buildErrCmd) (int, error) { return 0, nil }

// TestABadAddressIsReportedAlone: the option that refused its address is
// the one problem; before, a false "no lock provider is registered" for the
// locked type followed it.
func TestABadAddressIsReportedAlone(t *testing.T) {
	opt, at := redislocks.WithRedisDistributedLocking("::bad::"), callSite()
	_, err := mediator.New(opt,
		locking.WithDistributedLocking[buildErrCmd, int](),
		mediator.WithHandler[buildErrCmd, int](buildErrHandler))
	want := "mediator: build: redis.WithRedisDistributedLocking (at " + at + `): redis: invalid address "::bad::": want host:port or a redis:// URL: address ::bad::: too many colons in address`
	if err == nil || err.Error() != want {
		t.Fatalf("Build =\n%v\nwant\n%s", err, want)
	}
	if !errors.Is(err, redislocks.ErrInvalidAddress) || errors.Is(err, locking.ErrNoProvider) {
		t.Fatalf("Build = %v; want ErrInvalidAddress and not ErrNoProvider", err)
	}
}

// TestAFailedPingNamesTheProviderOption: the ping Build runs is reported
// under the option the user wrote and its line, not "Invoke at ...".
func TestAFailedPingNamesTheProviderOption(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // a port where nothing listens
	opt, at := redislocks.WithRedisDistributedLocking(addr), callSite()
	_, err = mediator.New(opt,
		locking.WithDistributedLocking[buildErrCmd, int](),
		mediator.WithHandler[buildErrCmd, int](buildErrHandler))
	want := "mediator: build: redis.WithRedisDistributedLocking (at " + at + "): redis: ping: locking: lock provider unavailable: dial tcp " + addr + ": connect: connection refused"
	if err == nil || err.Error() != want {
		t.Fatalf("Build =\n%v\nwant\n%s", err, want)
	}
	if !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("Build = %v; want ErrUnavailable", err)
	}
}

// TestTwoRedisProvidersAreNamedAsSuch: dig's "already provided by ..." is
// not what the user reads.
func TestTwoRedisProvidersAreNamedAsSuch(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	first, firstAt := redislocks.WithRedisDistributedLocking(srv.Addr()), callSite()
	second, secondAt := redislocks.WithRedisDistributedLocking(srv.Addr()), callSite()
	_, err := mediator.New(first, second)
	want := "mediator: build: two lock providers: registered at " + firstAt + " and at " + secondAt + ": keep one"
	if err == nil || err.Error() != want {
		t.Fatalf("Build =\n%v\nwant\n%s", err, want)
	}
}

// TestFromDIWithoutAClientIsReportedAlone: the missing client is the one
// problem, under the option's name; before, a false "no lock provider is
// registered" came first.
func TestFromDIWithoutAClientIsReportedAlone(t *testing.T) {
	opt, at := redislocks.WithRedisDistributedLockingFromDI(), callSite()
	_, err := mediator.New(opt,
		locking.WithDistributedLocking[buildErrCmd, int](),
		mediator.WithHandler[buildErrCmd, int](buildErrHandler))
	var be *mediator.BuildError
	if !errors.As(err, &be) || len(be.Problems) != 1 {
		t.Fatalf("Build = %v; want one problem", err)
	}
	wantStart := "mediator: build: redis.WithRedisDistributedLockingFromDI (at " + at + "): it needs locking.Provider, whose constructor ("
	wantEnd := ") needs redis.UniversalClient, which nothing provides: add a constructor of it with mediator.Provide"
	if msg := err.Error(); !strings.HasPrefix(msg, wantStart) || !strings.HasSuffix(msg, wantEnd) {
		t.Fatalf("Build =\n%s\nwant\n%s...%s", msg, wantStart, wantEnd)
	}
}
