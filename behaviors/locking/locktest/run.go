package locktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// Run checks the provider contract against the providers factory opens, one
// subtest per property (see the package documentation for the list). The
// options declare the provider's optional capabilities and change the
// kit's bounds; a capability not declared is not checked.
func Run(t *testing.T, factory Factory, opts ...Option) {
	t.Helper()
	if factory == nil {
		t.Fatal("locktest.Run: nil factory")
	}
	c := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
			t.Logf("locktest: %s", o)
		}
	}
	k := kit{factory: factory, c: c}
	t.Run("Exclusion", k.exclusion)
	t.Run("TimeoutZeroIsOneTry", k.timeoutZero)
	t.Run("TimeoutHonoured", k.timeoutHonoured)
	t.Run("ContextCancelled", k.contextCancelled)
	t.Run("ContextDeadline", k.contextDeadline)
	t.Run("ContextAlreadyEnded", k.contextAlreadyEnded)
	t.Run("TokensIncreaseAcrossInstances", k.tokensIncrease)
	t.Run("ReleaseIdempotentConcurrentCancelled", k.release)
	t.Run("ContentionIsNotUnavailability", k.contention)
	if c.fifo {
		t.Run("FIFO", k.fifo)
	}
	if c.unreachable != nil {
		t.Run("UnreachableIsUnavailable", k.unreachable)
	}
	if c.forget != nil {
		t.Run("LostWhenForgotten", k.lostWhenForgotten)
	}
	if c.stop != nil && c.start != nil {
		t.Run("Outage", k.outage)
	}
	t.Run("NoGoroutineAfterClose", k.noLeak)
}

// kit holds what every check needs.
type kit struct {
	factory Factory
	c       config
}

// open returns n providers from the factory.
func (k kit) open(t *testing.T, n int) []locking.Provider {
	t.Helper()
	ps := make([]locking.Provider, n)
	for i := range ps {
		ps[i] = k.factory(t)
		if ps[i] == nil {
			t.Fatal("locktest: the factory returned a nil provider")
		}
	}
	return ps
}

// newKey returns a key no other check or run uses.
func newKey(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return "locktest:" + name + ":" + hex.EncodeToString(b[:])
}

// testContext is the test's context bounded to a few minutes, so a provider
// that hangs fails the check instead of the whole run.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// acquire takes key on p, waiting up to timeout, and fails the test if it
// cannot.
func acquire(t *testing.T, ctx context.Context, p locking.Provider, key string, timeout time.Duration) locking.Handle {
	t.Helper()
	h, err := p.TryAcquire(ctx, key, timeout)
	if err != nil {
		t.Fatalf("TryAcquire(%q, %s): %v", key, timeout, err)
	}
	if h == nil {
		t.Fatalf("TryAcquire(%q, %s) returned a nil handle and a nil error", key, timeout)
	}
	if h.Key() != key {
		t.Fatalf("Handle.Key() = %q, want %q", h.Key(), key)
	}
	return h
}

// release releases h with a fresh context and fails the test on an error.
func release(t *testing.T, h locking.Handle) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.Release(ctx); err != nil {
		t.Errorf("Release(%q): %v", h.Key(), err)
	}
}

// releaseQuietly releases h and ignores the answer: for handles whose lock
// the check took away.
func releaseQuietly(h locking.Handle) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = h.Release(ctx)
}

// wantNotAcquired fails the test unless err is contention and nothing else.
func wantNotAcquired(t *testing.T, what string, h locking.Handle, err error) {
	t.Helper()
	if h != nil {
		releaseQuietly(h)
		t.Fatalf("%s: granted (token %d) while another holder had the key", what, h.Token())
	}
	if !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("%s: error %v, want one matching locking.ErrNotAcquired", what, err)
	}
	if errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("%s: contention reported as unavailability too: %v", what, err)
	}
}

// wantUnavailable fails the test unless err is a provider failure and not
// contention.
func wantUnavailable(t *testing.T, what string, h locking.Handle, err error) {
	t.Helper()
	if h != nil {
		releaseQuietly(h)
		t.Fatalf("%s: granted (token %d) with the backend unreachable", what, h.Token())
	}
	if !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("%s: error %v, want one matching locking.ErrUnavailable", what, err)
	}
	if errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("%s: unavailability reported as contention too: %v", what, err)
	}
}

// atMost fails the test if d is over limit.
func atMost(t *testing.T, what string, d, limit time.Duration) {
	t.Helper()
	if d > limit {
		t.Fatalf("%s took %s, want at most %s", what, d, limit)
	}
}

// acquireEventually takes key on p, retrying unavailability until within
// has passed: for a backend that just came back.
func acquireEventually(t *testing.T, ctx context.Context, p locking.Provider, key string, within time.Duration) locking.Handle {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		h, err := p.TryAcquire(ctx, key, time.Second)
		if err == nil {
			return h
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("key %q could not be taken within %s: %v", key, within, err)
		}
		if errors.Is(err, locking.ErrUnavailable) {
			// Back off a little: a backend that refuses connections answers
			// at once, and a tight loop would only burn the CPU.
			time.Sleep(50 * time.Millisecond)
		}
	}
}
