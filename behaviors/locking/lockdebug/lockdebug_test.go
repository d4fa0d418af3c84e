package lockdebug_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/lockdebug"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type withdraw struct {
	mediator.Command[int]
	locking.DistributedLock `lock:"prefix=account,timeout=5s"`
	ID                      string
}

func (w withdraw) LockKey() string { return w.ID }

// clock is a time source the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func get(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", target, ct)
	}
	return rec.Code, string(body)
}

// traceKey carries a made-up trace id through the test's contexts.
type traceKey struct{}

func traceOf(ctx context.Context) (string, string) {
	if id, ok := ctx.Value(traceKey{}).(string); ok {
		return id, "00f067aa0ba902b7"
	}
	return "", ""
}

const empty = `{
  "instance": "test-host:1",
  "held": [],
  "waiting": []
}
`

// TestHandlerListsHeldLocks: while handlers hold locks the handler lists
// each with its prefix, holder (this instance, the message type, the trace
// when the Send has one), token and age; after the release the list is empty.
func TestHandlerListsHeldLocks(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)}
	locks := lockdebug.New(lockdebug.WithClock(clk.Now), lockdebug.WithInstance("test-host:1"))
	entered, leave := make(chan struct{}, 2), make(chan struct{})
	m, err := mediator.New(locks.Option(),
		// One shard: one token counter for both keys, so the tokens are 1 and 2.
		memory.WithInMemoryDistributedLocking(memory.WithShards(1)),
		locking.WithTraceIdentity(traceOf),
		locking.WithDistributedLocking[withdraw, int](),
		mediator.WithHandler[withdraw, int](func(ctx context.Context, w withdraw) (int, error) {
			entered <- struct{}{}
			<-leave
			return 1, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()

	done := make(chan error, 2)
	for _, id := range []string{"b", "a"} {
		ctx := context.Background()
		if id == "a" {
			ctx = context.WithValue(ctx, traceKey{}, "4bf92f3577b34da6a3ce929d0e0e4736")
		}
		go func() { _, err := mediator.Send(ctx, m, withdraw{ID: id}); done <- err }()
		<-entered
		clk.add(time.Second)
	}
	clk.add(500 * time.Millisecond)

	code, body := get(t, locks, "/debug/locks")
	want := `{
  "instance": "test-host:1",
  "held": [
    {
      "key": "account:a",
      "prefix": "account",
      "holder": {
        "instance": "test-host:1",
        "message_type": "lockdebug_test.withdraw",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "since": "2026-11-30T01:00:01Z"
      },
      "token": 2,
      "age_ns": 1500000000
    },
    {
      "key": "account:b",
      "prefix": "account",
      "holder": {
        "instance": "test-host:1",
        "message_type": "lockdebug_test.withdraw",
        "since": "2026-11-30T01:00:00Z"
      },
      "token": 1,
      "age_ns": 2500000000
    }
  ],
  "waiting": []
}
`
	if code != http.StatusOK || body != want {
		t.Fatalf("while held: %d\n%s\nwant\n%s", code, body, want)
	}

	close(leave)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if code, body := get(t, locks, "/debug/locks"); code != http.StatusOK || body != empty {
		t.Fatalf("after release: %d\n%s", code, body)
	}
	rec := httptest.NewRecorder()
	locks.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/debug/locks", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// signalled is the table, observed by the test: started gets a value once
// the table has counted a caller that starts waiting.
type signalled struct {
	*lockdebug.Table
	started chan string
}

func (s signalled) WaitStarted(ctx context.Context, w *locking.Wait) {
	s.Table.WaitStarted(ctx, w)
	s.started <- w.Key
}

// TestHandlerCountsWaiters: callers waiting for a held key are counted per
// key, with the longest waiter's message type and age; once the holder
// lets go and everybody had the lock, nothing is listed.
func TestHandlerCountsWaiters(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)}
	table := lockdebug.New(lockdebug.WithClock(clk.Now), lockdebug.WithInstance("test-host:1"))
	locks := signalled{Table: table, started: make(chan string, 8)}
	entered, leave := make(chan struct{}, 3), make(chan struct{})
	m, err := mediator.New(locking.WithObserver(locks),
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[withdraw, int](),
		mediator.WithHandler[withdraw, int](func(ctx context.Context, w withdraw) (int, error) {
			entered <- struct{}{}
			<-leave
			return 1, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()

	done := make(chan error, 3)
	send := func() {
		go func() { _, err := mediator.Send(context.Background(), m, withdraw{ID: "7"}); done <- err }()
		<-locks.started
	}
	send()
	<-entered // the first caller holds account:7
	clk.add(time.Second)
	send() // the second waits
	clk.add(2 * time.Second)

	code, body := get(t, table, "/debug/locks")
	want := `{
  "instance": "test-host:1",
  "held": [
    {
      "key": "account:7",
      "prefix": "account",
      "holder": {
        "instance": "test-host:1",
        "message_type": "lockdebug_test.withdraw",
        "since": "2026-11-30T02:00:00Z"
      },
      "token": 1,
      "age_ns": 3000000000
    }
  ],
  "waiting": [
    {
      "key": "account:7",
      "prefix": "account",
      "waiters": 1,
      "message_type": "lockdebug_test.withdraw",
      "since": "2026-11-30T02:00:01Z",
      "age_ns": 2000000000
    }
  ]
}
`
	if code != http.StatusOK || body != want {
		t.Fatalf("one waiter: %d\n%s\nwant\n%s", code, body, want)
	}

	send() // a third waits too
	s := table.Snapshot()
	if len(s.Waiting) != 1 || s.Waiting[0].Waiters != 2 || s.Waiting[0].Age != 2*time.Second {
		t.Fatalf("two waiters: %+v", s.Waiting)
	}

	close(leave)
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if code, body := get(t, table, "/debug/locks"); code != http.StatusOK || body != empty {
		t.Fatalf("after release: %d\n%s", code, body)
	}
}

// TestLostLockStaysListedUntilReleased: a lost lock is marked, and goes away
// at its release.
func TestLostLockStaysListedUntilReleased(t *testing.T) {
	locks := lockdebug.New()
	locks.ObserveLock(locking.LockEvent{Prefix: "p", Key: "p:1", Outcome: locking.Acquired, Token: 3})
	locks.ObserveLock(locking.LockEvent{Prefix: "p", Key: "p:1", Outcome: locking.Lost, Token: 3})
	locks.ObserveLock(locking.LockEvent{Prefix: "p", Key: "p:1", Outcome: locking.Acquired, Token: 4})
	held := locks.Held()
	if len(held) != 2 || !held[0].Lost || held[0].Token != 3 || held[1].Lost || held[1].Token != 4 {
		t.Fatalf("held %+v, want token 3 lost and token 4 not", held)
	}
	if held[0].Holder.Instance != locking.DefaultInstance() {
		t.Fatalf("instance %q, want the default %q", held[0].Holder.Instance, locking.DefaultInstance())
	}
	locks.ObserveLock(locking.LockEvent{Prefix: "p", Key: "p:1", Outcome: locking.Released, Token: 3})
	if held := locks.Held(); len(held) != 1 || held[0].Token != 4 {
		t.Fatalf("after releasing token 3: %+v", held)
	}
}

// plainProvider can lock but not say who holds a key.
type plainProvider struct{}

func (plainProvider) TryAcquire(_ context.Context, key string, _ time.Duration) (locking.Handle, error) {
	return nil, &locking.UnavailableError{Key: key, Err: errors.New("not for locking")}
}

// inspectingProvider answers Inspect from a script.
type inspectingProvider struct {
	plainProvider
	info map[string]locking.LockInfo
	err  error
	// asked is the key of the last Inspect, and whether its context had a
	// deadline.
	asked       string
	hadDeadline bool
}

func (p *inspectingProvider) Inspect(ctx context.Context, key string) (locking.LockInfo, error) {
	p.asked = key
	_, p.hadDeadline = ctx.Deadline()
	if p.err != nil {
		return locking.LockInfo{}, p.err
	}
	if info, ok := p.info[key]; ok {
		return info, nil
	}
	return locking.LockInfo{Key: key}, nil
}

// TestKeyLookup: ?key=K asks the provider of the mediator the table is
// registered on: 200 with its LockInfo, 400 for an empty or repeated key,
// 501 for a provider that cannot be asked or none, 503 when the backend fails.
func TestKeyLookup(t *testing.T) {
	p := &inspectingProvider{info: map[string]locking.LockInfo{
		"account:42": {Key: "account:42", Held: true, Token: 9, HeldFor: 1500 * time.Millisecond, LeaseLeft: 28 * time.Second, Waiters: 2,
			Holder: locking.Holder{Instance: "bank-2:4711", MessageType: "main.WithdrawCommand", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
				Since: time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)}},
	}}
	locks := lockdebug.New()
	m, err := mediator.New(locks.Option(),
		locking.WithDistributedLockProvider[*inspectingProvider](func() *inspectingProvider { return p }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()
	if p.asked != "lockdebug:probe" || !p.hadDeadline {
		t.Fatalf("Build asked %q (deadline %v), want the probe key with a deadline", p.asked, p.hadDeadline)
	}

	code, body := get(t, locks, "/debug/locks?key=account:42")
	want := `{
  "key": "account:42",
  "held": true,
  "holder": {
    "instance": "bank-2:4711",
    "message_type": "main.WithdrawCommand",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "since": "2026-11-30T03:00:00Z"
  },
  "token": 9,
  "held_for_ns": 1500000000,
  "lease_left_ns": 28000000000,
  "waiters": 2
}
`
	if code != http.StatusOK || body != want {
		t.Fatalf("held key: %d\n%s\nwant\n%s", code, body, want)
	}
	if p.asked != "account:42" || !p.hadDeadline {
		t.Fatalf("Inspect asked %q, deadline %v: want account:42 with a deadline", p.asked, p.hadDeadline)
	}
	code, body = get(t, locks, "/debug/locks?key=account:1")
	want = `{
  "key": "account:1",
  "held": false,
  "holder": {
    "instance": "",
    "since": "0001-01-01T00:00:00Z"
  },
  "waiters": 0
}
`
	if code != http.StatusOK || body != want {
		t.Fatalf("free key: %d\n%s\nwant\n%s", code, body, want)
	}

	for _, target := range []string{"/debug/locks?key=", "/debug/locks?key", "/debug/locks?key=a&key=b"} {
		code, body := get(t, locks, target)
		want := `{
  "error": "?key= needs one non-empty lock key, the full key as listed (account:42)"
}
`
		if code != http.StatusBadRequest || body != want {
			t.Errorf("%s: %d\n%s", target, code, body)
		}
	}

	p.err = &locking.UnavailableError{Key: "account:42", Err: errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")}
	code, body = get(t, locks, "/debug/locks?key=account:42")
	want = `{
  "error": "lock provider unavailable: locking: provider unavailable for \"account:42\": dial tcp 127.0.0.1:6379: connect: connection refused",
  "key": "account:42"
}
`
	if code != http.StatusServiceUnavailable || body != want {
		t.Fatalf("backend down: %d\n%s\nwant\n%s", code, body, want)
	}

	p.err = context.DeadlineExceeded // a lookup past the inspect timeout
	code, body = get(t, locks, "/debug/locks?key=account:42")
	want = `{
  "error": "looking the key up failed: context deadline exceeded",
  "key": "account:42"
}
`
	if code != http.StatusServiceUnavailable || body != want {
		t.Fatalf("lookup timed out: %d\n%s\nwant\n%s", code, body, want)
	}

	plain := lockdebug.New(lockdebug.WithProvider(plainProvider{}))
	code, body = get(t, plain, "/debug/locks?key=account:42")
	want = `{
  "error": "the lock provider (lockdebug_test.plainProvider) cannot be asked who holds a key: it does not implement locking.Inspector",
  "key": "account:42"
}
`
	if code != http.StatusNotImplemented || body != want {
		t.Fatalf("no Inspector: %d\n%s\nwant\n%s", code, body, want)
	}
	code, body = get(t, lockdebug.New(), "/debug/locks?key=account:42")
	if code != http.StatusNotImplemented {
		t.Fatalf("no provider: %d\n%s", code, body)
	}
}

// TestKeyLookupOnMemoryProvider: ?key= through the in-memory provider:
// while a handler holds the key and another caller waits, the provider
// names the holder it recorded (its instance, the message type, the Send's
// trace, the grant time: the table's probe at Build made the provider time
// its grants), the token and one waiter; after the release, nobody.
func TestKeyLookupOnMemoryProvider(t *testing.T) {
	p := memory.New(memory.WithInstance("test-host:1"))
	defer func() { _ = p.Close() }()
	table := lockdebug.New(lockdebug.WithInstance("test-host:1"))
	entered, leave := make(chan struct{}, 2), make(chan struct{})
	m, err := mediator.New(table.Option(),
		locking.WithDistributedLockProvider[*memory.Provider](func() *memory.Provider { return p }),
		locking.WithTraceIdentity(traceOf),
		locking.WithDistributedLocking[withdraw, int](),
		mediator.WithHandler[withdraw, int](func(ctx context.Context, w withdraw) (int, error) {
			entered <- struct{}{}
			<-leave
			return 1, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()

	done := make(chan error, 2)
	ctx := context.WithValue(context.Background(), traceKey{}, "4bf92f3577b34da6a3ce929d0e0e4736")
	before := time.Now()
	send := func() { _, err := mediator.Send(ctx, m, withdraw{ID: "7"}); done <- err }
	go send()
	<-entered
	go send()
	// The provider offers no event for a caller joining its queue: ask it
	// until the second caller is there.
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := p.Inspect(context.Background(), "account:7")
		if err != nil {
			t.Fatal(err)
		}
		if info.Waiters == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second caller never queued: %+v", info)
		}
		time.Sleep(time.Millisecond)
	}

	code, body := get(t, table, "/debug/locks?key=account:7")
	var info locking.LockInfo
	if code != http.StatusOK || json.Unmarshal([]byte(body), &info) != nil {
		t.Fatalf("?key=account:7: %d %s", code, body)
	}
	want := locking.LockInfo{Key: "account:7", Held: true, Token: 1, Waiters: 1, HeldFor: info.HeldFor, Holder: locking.Holder{
		Instance: "test-host:1", MessageType: "lockdebug_test.withdraw", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
		Since: info.Holder.Since}}
	if info != want || info.Holder.Since.Before(before.Add(-time.Second)) || info.HeldFor < 0 || info.HeldFor > time.Minute {
		t.Fatalf("?key=account:7:\n%+v\nwant\n%+v", info, want)
	}

	close(leave)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	code, body = get(t, table, "/debug/locks?key=account:7")
	if code != http.StatusOK || json.Unmarshal([]byte(body), &info) != nil || info.Held || info.Waiters != 0 {
		t.Fatalf("after release: %d %s", code, body)
	}
}
