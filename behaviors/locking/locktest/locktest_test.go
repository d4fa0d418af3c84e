package locktest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/locktest"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// childEnv names the broken provider a child run of this test binary is to
// put through the kit.
const childEnv = "LOCKTEST_BROKEN_PROVIDER"

// grantAll is a deliberately broken provider: it grants every request at
// once, with a token that does not grow.
type grantAll struct{}

func (grantAll) TryAcquire(ctx context.Context, key string, _ time.Duration) (locking.Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nopHandle{key: key}, nil
}

type nopHandle struct{ key string }

func (h nopHandle) Key() string                 { return h.key }
func (nopHandle) Token() uint64                 { return 1 }
func (nopHandle) Lost() <-chan struct{}         { return nil }
func (nopHandle) Release(context.Context) error { return nil }

// ignoresTimeout is a deliberately broken provider: correct, except that a
// single try (timeout 0) waits like a long timeout.
type ignoresTimeout struct{ *memory.Provider }

func (p ignoresTimeout) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	return p.Provider.TryAcquire(ctx, key, timeout)
}

// TestBrokenProviderChild runs the kit against the broken provider named by
// childEnv; it is skipped unless TestKitFailsABrokenProvider started it.
func TestBrokenProviderChild(t *testing.T) {
	var factory locktest.Factory
	switch os.Getenv(childEnv) {
	case "grant-all":
		factory = func(*testing.T) locking.Provider { return grantAll{} }
	case "ignores-timeout":
		p := memory.New()
		factory = func(*testing.T) locking.Provider { return ignoresTimeout{p} }
	default:
		t.Skip("run by TestKitFailsABrokenProvider only")
	}
	locktest.Run(t, factory)
}

// TestKitFailsABrokenProvider runs the kit, in a child process, against
// providers that break the contract, and checks that it fails them for the
// right reason.
func TestKitFailsABrokenProvider(t *testing.T) {
	for _, tc := range []struct {
		provider string
		run      string // subtests of the kit to run
		want     []string
	}{
		{"grant-all", "", []string{
			"--- FAIL: TestBrokenProviderChild/Exclusion",
			"two holders at once",
			"did not get a larger token",
			"--- FAIL: TestBrokenProviderChild/TimeoutZeroIsOneTry",
		}},
		{"ignores-timeout", "/^(Exclusion|TimeoutZeroIsOneTry)$", []string{
			"--- PASS: TestBrokenProviderChild/Exclusion",
			"--- FAIL: TestBrokenProviderChild/TimeoutZeroIsOneTry",
		}},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenProviderChild$"+tc.run, "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+tc.provider)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed a broken provider:\n%s", out)
			}
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("child did not run: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("child output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestKitPassesTheMemoryProvider is the kit's own check that it does not
// fail a correct provider.
func TestKitPassesTheMemoryProvider(t *testing.T) {
	p := memory.New()
	locktest.Run(t, func(*testing.T) locking.Provider { return p }, locktest.WithFIFO())
}

// TestOptionsNameThemselves checks the options' String.
func TestOptionsNameThemselves(t *testing.T) {
	for _, tc := range []struct {
		opt  locktest.Option
		want string
	}{
		{locktest.WithTimeoutSlack(3 * time.Second), "locktest.WithTimeoutSlack(3s)"},
		{locktest.WithLostWithin(time.Second), "locktest.WithLostWithin(1s)"},
		{locktest.WithExclusionLoad(2, 4, 10), "locktest.WithExclusionLoad(2, 4, 10)"},
		{locktest.WithFIFO(), "locktest.WithFIFO()"},
		{locktest.WithForget(func(*testing.T, string) {}), "locktest.WithForget(...)"},
	} {
		if got := tc.opt.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
