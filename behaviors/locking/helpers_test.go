package locking_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// build builds a mediator or stops the test.
func build(t testing.TB, opts ...mediator.Option) *mediator.Mediator {
	t.Helper()
	m, err := mediator.New(opts...)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

// withMemory registers p, so the test can look into it.
func withMemory(p *memory.Provider) mediator.Option {
	return locking.WithDistributedLockProvider[*memory.Provider](func() *memory.Provider { return p })
}

// waitFor polls cond (a provider's queue length, say, which offers no
// channel) until it holds, failing the test after 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeProvider is a scriptable provider for what the memory provider cannot
// show: failures, lost leases, the context a release gets. It grants each key
// exclusively but never waits: a held key is ErrNotAcquired at once.
type fakeProvider struct {
	mu       sync.Mutex
	held     map[string]bool
	fail     error // TryAcquire returns it when set
	losable  bool  // handles get a Lost channel
	handles  []*fakeHandle
	timeouts map[string]time.Duration // the timeout each key was asked with
	tokens   uint64
}

func newFake() *fakeProvider {
	return &fakeProvider{held: map[string]bool{}, timeouts: map[string]time.Duration{}}
}

func (p *fakeProvider) option() mediator.Option {
	return locking.WithDistributedLockProvider[*fakeProvider](func() *fakeProvider { return p })
}

func (p *fakeProvider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timeouts[key] = timeout
	if p.fail != nil {
		return nil, p.fail
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.held[key] {
		return nil, &locking.Error{Key: key, Timeout: timeout}
	}
	p.held[key] = true
	p.tokens++
	h := &fakeHandle{p: p, key: key, token: p.tokens}
	if p.losable {
		h.lost = make(chan struct{})
	}
	p.handles = append(p.handles, h)
	return h, nil
}

func (p *fakeProvider) lastHandle() *fakeHandle {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.handles[len(p.handles)-1]
}

func (p *fakeProvider) heldCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.held {
		if v {
			n++
		}
	}
	return n
}

type fakeHandle struct {
	p        *fakeProvider
	key      string
	token    uint64
	lost     chan struct{}
	releases atomic.Int32
	// releaseCtxErr is the release context's Err when Release was called:
	// it must be nil even when the caller's context was cancelled.
	releaseCtxErr error
	hasDeadline   bool
	traceID       any // the release context's value for traceKey{}
}

// traceKey stands for a request-scoped value (a trace id) that release must
// still see.
type traceKey struct{}

func (h *fakeHandle) Key() string           { return h.key }
func (h *fakeHandle) Token() uint64         { return h.token }
func (h *fakeHandle) Lost() <-chan struct{} { return h.lost }
func (h *fakeHandle) markLost()             { close(h.lost) }

func (h *fakeHandle) Release(ctx context.Context) error {
	if h.releases.Add(1) > 1 {
		return nil
	}
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	h.releaseCtxErr = ctx.Err()
	_, h.hasDeadline = ctx.Deadline()
	h.traceID = ctx.Value(traceKey{})
	delete(h.p.held, h.key)
	return nil
}

var errBoom = errors.New("boom")

// counter counts handler calls.
type counter struct{ n atomic.Int64 }

func (c *counter) get() int64 { return c.n.Load() }

func goroutines() int { return runtime.NumGoroutine() }
