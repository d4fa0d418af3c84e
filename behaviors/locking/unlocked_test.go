package locking_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// lineHere returns "dir/file.go:line" of its caller, the form Build errors
// give registration sites in. Call it on the line of the registration.
func lineHere() string {
	_, file, line, _ := runtime.Caller(1)
	dir, name := file[:strings.LastIndexByte(file, '/')], file[strings.LastIndexByte(file, '/')+1:]
	return dir[strings.LastIndexByte(dir, '/')+1:] + "/" + name + ":" + strconv.Itoa(line)
}

// buildErrorOf returns the one problem of a failed Build.
func buildErrorOf(t *testing.T, err error) error {
	t.Helper()
	var be *mediator.BuildError
	if !errors.As(err, &be) || len(be.Problems) != 1 {
		t.Fatalf("Build = %v, want one problem", err)
	}
	return be.Problems[0]
}

type BadTagViaBase struct {
	mediator.Command[mediator.Unit]
	badTagBase
}

type badTagBase struct {
	locking.DistributedLock `lock:"timeout=soon,colour=red"`
}

func TestMarkedTypeWithoutLockingBehaviorFailsBuild(t *testing.T) {
	t.Run("no locking option at all", func(t *testing.T) {
		h, at := mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }), lineHere()
		_, err := mediator.New(h)
		var ue *locking.UnlockedError
		if !errors.As(err, &ue) {
			t.Fatalf("Build = %v, want a *locking.UnlockedError", err)
		}
		want := "locking_test.AccountCommand: WithHandler (at " + at + "): locking: the type carries locking.DistributedLock but no locking behavior covers it, so its handler would run without the lock: " +
			"add locking.WithDistributedLocking[locking_test.AccountCommand, int]() for this type, or locking.WithGlobalDistributedLocking() for every type carrying the marker"
		if got := buildErrorOf(t, err).Error(); got != want {
			t.Fatalf("error\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("provider and another type's locking, marker in a nil pointer-embedded base", func(t *testing.T) {
		h, at := mediator.WithHandler[WithdrawViaPointerBase, []string](heldKeys[WithdrawViaPointerBase]), lineHere()
		_, err := mediator.New(memory.WithInMemoryDistributedLocking(),
			locking.WithDistributedLocking[AccountCommand, int](),
			mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }),
			h)
		want := "locking_test.WithdrawViaPointerBase: WithHandler (at " + at + "): locking: the type carries locking.DistributedLock (as accountBaseDeeper.accountBase.DistributedLock) but no locking behavior covers it, so its handler would run without the lock: " +
			"add locking.WithDistributedLocking[locking_test.WithdrawViaPointerBase, []string]() for this type, or locking.WithGlobalDistributedLocking() for every type carrying the marker"
		if got := buildErrorOf(t, err).Error(); got != want {
			t.Fatalf("error\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("malformed tag reported along", func(t *testing.T) {
		h, at := mediator.WithHandler[BadTagViaBase, mediator.Unit](unitHandler[BadTagViaBase]), lineHere()
		_, err := mediator.New(h)
		var te *locking.TagError
		if !errors.As(err, &te) {
			t.Fatalf("Build = %v, want it to wrap the *TagError", err)
		}
		want := "locking_test.BadTagViaBase: WithHandler (at " + at + "): locking: the type carries locking.DistributedLock (as badTagBase.DistributedLock) but no locking behavior covers it, so its handler would run without the lock: " +
			"add locking.WithDistributedLocking[locking_test.BadTagViaBase, mediator.Unit]() for this type, or locking.WithGlobalDistributedLocking() for every type carrying the marker; " +
			`its lock settings are wrong too: locking: locking_test.BadTagViaBase.badTagBase.DistributedLock: 2 bad words in the lock tag: "timeout=soon": timeout must be a Go duration (15s, 250ms) or whole seconds; "colour=red": unknown word "colour" (want prefix, timeout or throw)`
		if got := buildErrorOf(t, err).Error(); got != want {
			t.Fatalf("error\n%s\nwant\n%s", got, want)
		}
	})
}

func TestMarkedTypeCoveredOrWaivedBuilds(t *testing.T) {
	handler := mediator.WithHandler[WithdrawViaBase, []string](heldKeys[WithdrawViaBase])
	for name, opts := range map[string][]mediator.Option{
		"per type": {memory.WithInMemoryDistributedLocking(), locking.WithDistributedLocking[WithdrawViaBase, []string]()},
		"global":   {memory.WithInMemoryDistributedLocking(), locking.WithGlobalDistributedLocking()},
		"global and per type": {memory.WithInMemoryDistributedLocking(), locking.WithGlobalDistributedLocking(),
			locking.WithDistributedLocking[WithdrawViaBase, []string]()},
		"waived": {locking.WithoutLocking()},
	} {
		t.Run(name, func(t *testing.T) {
			m := build(t, append(opts, handler)...)
			keys, err := mediator.Send(context.Background(), m, WithdrawViaBase{ID: "1"})
			if err != nil {
				t.Fatal(err)
			}
			want := "account:1"
			if name == "waived" {
				want = ""
			}
			if joined(keys) != want {
				t.Fatalf("held %q, want %q", joined(keys), want)
			}
		})
	}
}

func TestGlobalOptionsErrorsNameTheirOwnLine(t *testing.T) {
	defaults, defaultsAt := locking.WithDefaults(func(o *locking.Options) { o.KeyPrefix = "x" }), lineHere()
	global, globalAt := locking.WithGlobalDistributedLocking(func(o *locking.Options) { o.DefaultTimeout = -time.Second }), lineHere()
	for _, c := range []struct {
		opt  mediator.Option
		want string
	}{
		{defaults, "locking.WithDefaults (at " + defaultsAt + "): locking: KeyPrefix \"x\" here would give every message type the same locks: set it per type, in the options of locking.WithDistributedLocking[T, R] or with a prefix= tag"},
		{global, "locking.WithGlobalDistributedLocking (at " + globalAt + "): locking: negative DefaultTimeout -1s: use 0 for one try that fails at once, or a positive wait"},
	} {
		_, err := mediator.New(locking.WithNoOpLocking(), c.opt,
			locking.WithDistributedLocking[AccountCommand, int](),
			mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }))
		if got := buildErrorOf(t, err).Error(); got != c.want {
			t.Errorf("error\n%s\nwant\n%s", got, c.want)
		}
	}
}

func TestGlobalLockingWithoutProviderReportsThatAlone(t *testing.T) {
	_, err := mediator.New(locking.WithGlobalDistributedLocking(),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }))
	if p := buildErrorOf(t, err); !errors.Is(p, locking.ErrNoProvider) {
		t.Fatalf("problem %v, want ErrNoProvider alone", p)
	}
}
