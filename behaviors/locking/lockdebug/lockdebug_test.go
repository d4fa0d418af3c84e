package lockdebug_test

import (
	"context"
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
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Code, string(body)
}

// TestHandlerListsHeldLocks: while a handler holds a lock the handler lists
// it with its prefix, token, grant time and age; ?key= filters; after the
// release the list is empty.
func TestHandlerListsHeldLocks(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)}
	locks := lockdebug.New(lockdebug.WithClock(clk.Now))
	entered, leave := make(chan struct{}, 2), make(chan struct{})
	m, err := mediator.New(locks.Option(),
		// One shard: one token counter for both keys, so the tokens are 1 and 2.
		memory.WithInMemoryDistributedLocking(memory.WithShards(1)),
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
		go func() { _, err := mediator.Send(context.Background(), m, withdraw{ID: id}); done <- err }()
		<-entered
		clk.add(time.Second)
	}
	clk.add(500 * time.Millisecond)

	code, body := get(t, locks, "/debug/locks")
	want := `{
  "held": [
    {
      "key": "account:a",
      "prefix": "account",
      "token": 2,
      "since": "2026-11-30T01:00:01Z",
      "age_ns": 1500000000
    },
    {
      "key": "account:b",
      "prefix": "account",
      "token": 1,
      "since": "2026-11-30T01:00:00Z",
      "age_ns": 2500000000
    }
  ]
}
`
	if code != http.StatusOK || body != want {
		t.Fatalf("while held: %d\n%s\nwant\n%s", code, body, want)
	}
	_, body = get(t, locks, "/debug/locks?key=account:b")
	want = `{
  "held": [
    {
      "key": "account:b",
      "prefix": "account",
      "token": 1,
      "since": "2026-11-30T01:00:00Z",
      "age_ns": 2500000000
    }
  ]
}
`
	if body != want {
		t.Fatalf("?key=account:b:\n%s\nwant\n%s", body, want)
	}

	close(leave)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if code, body := get(t, locks, "/debug/locks"); code != http.StatusOK || body != "{\n  \"held\": []\n}\n" {
		t.Fatalf("after release: %d %q", code, body)
	}
	rec := httptest.NewRecorder()
	locks.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/debug/locks", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
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
	locks.ObserveLock(locking.LockEvent{Prefix: "p", Key: "p:1", Outcome: locking.Released, Token: 3})
	if held := locks.Held(); len(held) != 1 || held[0].Token != 4 {
		t.Fatalf("after releasing token 3: %+v", held)
	}
}
