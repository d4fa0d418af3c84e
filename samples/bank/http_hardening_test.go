package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// saveGate holds the first Save after arm until release is closed, after
// closing entered: a test then knows a request is inside its handler, past
// its lock, about to write.
type saveGate struct {
	Store
	armed   atomic.Bool
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newSaveGate(s Store) *saveGate {
	return &saveGate{Store: s, entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *saveGate) Save(ctx context.Context, applied *Applied, writes ...Write) error {
	if g.armed.Load() {
		g.once.Do(func() {
			close(g.entered)
			<-g.release
		})
	}
	return g.Store.Save(ctx, applied, writes...)
}

// gatedServer is a bank on a memory store behind a saveGate.
func gatedServer(t *testing.T, cfg Config, log *slog.Logger) (*saveGate, *testServer) {
	t.Helper()
	gate := newSaveGate(NewMemoryStore())
	app, err := newApp(cfg, gate)
	if err != nil {
		t.Fatal(err)
	}
	return gate, serveApp(t, app, log)
}

type answer struct {
	status int
	header http.Header
	body   string
}

// callAsync is call in a goroutine; the answer comes on the channel.
func callAsync(t *testing.T, srv *testServer, method, path, body string, headers ...string) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		status, header, got := call(t, srv, method, path, body, headers...)
		out <- answer{status, header, got}
	}()
	return out
}

// TestHTTPIdempotencyKey, in memory and on Redis: the same key with the
// same request answers the first answer (marked Idempotent-Replayed) and
// moves no money again, whatever the endpoint; the same key with another
// body or endpoint is 422; a bad key is 400.
func TestHTTPIdempotencyKey(t *testing.T) {
	storageKinds(t, Config{}, func(t *testing.T, cfg Config) {
		_, srv := newTestServer(t, cfg)
		key := func(k string) []string { return []string{idempotencyKeyHeader, k} }
		steps := []struct {
			name, method, path, body, key string
			status                        int
			want                          string
			replayed                      bool
		}{
			{"withdraw", "POST", "/accounts/$ann/withdraw", `{"amount":100}`, "w1", 200, `{"balance":900}`, false},
			{"withdraw retried", "POST", "/accounts/$ann/withdraw", `{"amount":100}`, "w1", 200, `{"balance":900}`, true},
			{"withdraw retried, white space differs", "POST", "/accounts/$ann/withdraw", `{ "amount": 100 }`, "w1", 200, `{"balance":900}`, true},
			{"same key, other amount", "POST", "/accounts/$ann/withdraw", `{"amount":101}`, "w1", 422, `{"error":"Idempotency-Key already used for a different request"}`, false},
			{"same key, other account", "POST", "/accounts/$bob/withdraw", `{"amount":100}`, "w1", 422, `{"error":"Idempotency-Key already used for a different request"}`, false},
			{"same key, other endpoint", "POST", "/accounts/$ann/deposit", `{"amount":100}`, "w1", 422, `{"error":"Idempotency-Key already used for a different request"}`, false},
			{"deposit", "POST", "/accounts/$ann/deposit", `{"amount":50}`, "d1", 200, `{"id":"$ann","owner":"ann","balance":950}`, false},
			{"deposit retried", "POST", "/accounts/$ann/deposit", `{"amount":50}`, "d1", 200, `{"id":"$ann","owner":"ann","balance":950}`, true},
			{"transfer", "POST", "/transfers", `{"from":"$ann","to":"$bob","amount":10}`, "t1", 200, `{"from_balance":940,"to_balance":510}`, false},
			{"transfer retried", "POST", "/transfers", `{"from":"$ann","to":"$bob","amount":10}`, "t1", 200, `{"from_balance":940,"to_balance":510}`, true},
			{"stress", "POST", "/accounts/$bob/stress", `{"concurrent":3,"amount":10}`, "s1", 200, `{"succeeded":3,"rejected":0,"contended":0,"balance":480}`, false},
			{"stress retried", "POST", "/accounts/$bob/stress", `{"concurrent":3,"amount":10}`, "s1", 200, `{"succeeded":3,"rejected":0,"contended":0,"balance":480}`, true},
			{"failed request frees its key", "POST", "/accounts/$bob/withdraw", `{"amount":100000}`, "f1", 422, `{"error":"insufficient funds: account $bob has 480 cents, 100000 requested"}`, false},
			{"failed request retried runs again", "POST", "/accounts/$bob/withdraw", `{"amount":100000}`, "f1", 422, `{"error":"insufficient funds: account $bob has 480 cents, 100000 requested"}`, false},
			{"unknown account", "POST", "/accounts/42/withdraw", `{"amount":1}`, "u1", 404, `{"error":"account not found: 42"}`, false},
			{"key with a space", "POST", "/accounts/$ann/withdraw", `{"amount":1}`, "a b", 400, `{"error":"Idempotency-Key header: only printable ASCII without spaces is allowed"}`, false},
			{"key too long", "POST", "/accounts/$ann/withdraw", `{"amount":1}`, strings.Repeat("k", 256), 400, `{"error":"Idempotency-Key header: longer than 255 bytes"}`, false},
			{"without a key, twice", "POST", "/accounts/$ann/withdraw", `{"amount":1}`, "", 200, `{"balance":939}`, false},
			{"without a key, twice", "POST", "/accounts/$ann/withdraw", `{"amount":1}`, "", 200, `{"balance":938}`, false},
			{"balances", "GET", "/accounts/$ann", ``, "", 200, `{"id":"$ann","owner":"ann","balance":938}`, false},
		}
		for _, st := range steps {
			var headers []string
			if st.key != "" {
				headers = key(st.key)
			}
			status, header, got := call(t, srv, st.method, st.path, st.body, headers...)
			if want := srv.expand(st.want); status != st.status || got != want {
				t.Errorf("%s: %d %s, want %d %s", st.name, status, got, st.status, want)
			}
			if replayed := header.Get(replayedHeader) == "true"; replayed != st.replayed {
				t.Errorf("%s: %s %q, want replayed %v", st.name, replayedHeader, header.Get(replayedHeader), st.replayed)
			}
		}
		// A retried create answers the same account: one account, not two.
		_, _, first := call(t, srv, "POST", "/accounts", `{"owner":"cy","balance":5}`, key("c1")...)
		status, header, again := call(t, srv, "POST", "/accounts", `{"owner":"cy","balance":5}`, key("c1")...)
		if status != 201 || again != first || header.Get(replayedHeader) != "true" || header.Get("Location") == "" {
			t.Errorf("create retried: %d %s (Location %q), want 201 %s", status, again, header.Get("Location"), first)
		}
		_, _, list := call(t, srv, "GET", "/accounts", "")
		if n := strings.Count(list, `"owner":"cy"`); n != 1 {
			t.Errorf("%d accounts for cy after a retried create, want 1", n)
		}
	})
}

// TestHTTPIdempotencyAcrossInstances: the first request through one app,
// its retry through another sharing the Redis: the retry answers the first
// answer and moves nothing.
func TestHTTPIdempotencyAcrossInstances(t *testing.T) {
	addr := redistest.Start(t).Addr()
	_, a := newTestServer(t, Config{RedisAddr: addr})
	_, b := newTestServer(t, Config{RedisAddr: addr})
	b.remember("ann", a.id("ann"))
	h := []string{idempotencyKeyHeader, "x1"}
	if status, _, got := call(t, a, "POST", "/accounts/$ann/withdraw", `{"amount":100}`, h...); status != 200 || got != `{"balance":900}` {
		t.Fatalf("first: %d %s", status, got)
	}
	status, header, got := call(t, b, "POST", "/accounts/$ann/withdraw", `{"amount":100}`, h...)
	if status != 200 || got != `{"balance":900}` || header.Get(replayedHeader) != "true" {
		t.Fatalf("retry on the other instance: %d %s %v", status, got, header)
	}
	if status, _, got := call(t, b, "POST", "/accounts/$ann/withdraw", `{"amount":5}`, h...); status != 422 {
		t.Fatalf("other body on the other instance: %d %s", status, got)
	}
	if status, _, got := call(t, b, "GET", "/accounts/$ann", ""); !strings.Contains(got, `"balance":900`) {
		t.Fatalf("balance: %d %s", status, got)
	}
}

// TestHTTPConcurrentDuplicateIsNotAppliedTwice: while a withdrawal with a
// key is inside its handler, the same request again answers 409 (in
// progress, Retry-After) at once; after it, the first answer.
func TestHTTPConcurrentDuplicateIsNotAppliedTwice(t *testing.T) {
	gate, srv := gatedServer(t, Config{}, discardLog)
	h := []string{idempotencyKeyHeader, "dup"}
	gate.armed.Store(true)
	first := callAsync(t, srv, "POST", "/accounts/$ann/withdraw", `{"amount":100}`, h...)
	<-gate.entered
	status, header, got := call(t, srv, "POST", "/accounts/$ann/withdraw", `{"amount":100}`, h...)
	if want := `{"error":"a request with this Idempotency-Key is in progress, retry later for its answer"}`; status != http.StatusConflict || got != want || header.Get("Retry-After") != "1" {
		t.Fatalf("duplicate in flight: %d %s Retry-After %q; want 409 %s with Retry-After", status, got, header.Get("Retry-After"), want)
	}
	close(gate.release)
	if a := <-first; a.status != 200 || a.body != `{"balance":900}` {
		t.Fatalf("first: %d %s", a.status, a.body)
	}
	if status, _, got := call(t, srv, "POST", "/accounts/$ann/withdraw", `{"amount":100}`, h...); status != 200 || got != `{"balance":900}` {
		t.Fatalf("duplicate after: %d %s", status, got)
	}
	if _, _, got := call(t, srv, "GET", "/accounts/$ann", ""); !strings.Contains(got, `"balance":900`) {
		t.Fatalf("balance after a duplicate: %s", got)
	}
}

// TestHTTPRetryAfterACrashFindsTheAppliedRecord: an instance died after its
// withdrawal's write but before the idempotency behavior recorded the
// answer (here: the write, with its applied record, made straight on the
// store, as the dead instance's handler did). The retry with the same key
// takes the lock, finds the record, answers what the first would have, and
// takes no money again; another request under the key is 422.
func TestHTTPRetryAfterACrashFindsTheAppliedRecord(t *testing.T) {
	storageKinds(t, Config{}, func(t *testing.T, cfg Config) {
		app, srv := newTestServer(t, cfg)
		cmd := WithdrawCommand{AccountID: srv.id("ann"), Amount: 100, RequestKey: "crash"}
		bank := &Bank{Store: app.Store, AppliedTTL: time.Hour}
		if err := app.Store.Save(context.Background(), bank.applied(cmd.RequestKey, cmd, WithdrawResult{Balance: 900}),
			Write{AccountID: cmd.AccountID, Balance: 900}); err != nil {
			t.Fatal(err)
		}
		h := []string{idempotencyKeyHeader, "crash"}
		runRowsWith(t, srv, h, []contractRow{
			{"retry", "POST", "/accounts/$ann/withdraw", `{"amount":100}`, 200, `{"balance":900}`, ""},
			{"other request, same key", "POST", "/accounts/$ann/withdraw", `{"amount":7}`, 422, `{"error":"Idempotency-Key already used for a different request"}`, ""},
		})
		runRows(t, srv, []contractRow{
			{"balance", "GET", "/accounts/$ann", ``, 200, `{"id":"$ann","owner":"ann","balance":900}`, ""},
		})
	})
}

// runRowsWith is runRows with headers on every request.
func runRowsWith(t *testing.T, srv *testServer, headers []string, rows []contractRow) {
	t.Helper()
	for _, r := range rows {
		status, _, got := call(t, srv, r.method, r.path, r.body, headers...)
		if want := srv.expand(r.want); status != r.status || got != want {
			t.Errorf("%s: %d %s, want %d %s", r.name, status, got, r.status, want)
		}
	}
}

// TestHTTPOneStressRunAtATime: while a stress run is going on, another on
// the same instance (any account) answers 429 with Retry-After.
func TestHTTPOneStressRunAtATime(t *testing.T) {
	gate, srv := gatedServer(t, Config{}, discardLog)
	gate.armed.Store(true)
	first := callAsync(t, srv, "POST", "/accounts/$ann/stress", `{"concurrent":2,"amount":1}`)
	<-gate.entered
	status, header, got := call(t, srv, "POST", "/accounts/$bob/stress", `{"concurrent":2,"amount":1}`)
	if want := `{"error":"a stress run is already going on in this instance, retry later"}`; status != http.StatusTooManyRequests || got != want || header.Get("Retry-After") != "1" {
		t.Fatalf("second stress run: %d %s, Retry-After %q; want 429 %s", status, got, header.Get("Retry-After"), want)
	}
	close(gate.release)
	if a := <-first; a.status != 200 || a.body != `{"succeeded":2,"rejected":0,"contended":0,"balance":998}` {
		t.Fatalf("first stress run: %d %s", a.status, a.body)
	}
	runRows(t, srv, []contractRow{
		{"after it", "POST", "/accounts/$bob/stress", `{"concurrent":2,"amount":1}`, 200, `{"succeeded":2,"rejected":0,"contended":0,"balance":498}`, ""},
	})
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// loadGate holds the first Load after arm until release is closed, after
// closing entered: the request is then inside the mediator for sure.
type loadGate struct {
	Store
	armed   atomic.Bool
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g *loadGate) Load(ctx context.Context, key string, ids ...string) ([]Account, *Applied, error) {
	if g.armed.Load() {
		g.once.Do(func() {
			close(g.entered)
			<-g.release
		})
	}
	return g.Store.Load(ctx, key, ids...)
}

// TestHTTPClientThatLeavesIsLoggedAtInfo: a client gives up while its
// withdrawal is in flight (then waiting for a lock held elsewhere); the
// server logs a client-closed request at info, no 500 and nothing at
// ERROR.
func TestHTTPClientThatLeavesIsLoggedAtInfo(t *testing.T) {
	var logs syncBuffer
	gate := &loadGate{Store: NewMemoryStore(), entered: make(chan struct{}), release: make(chan struct{})}
	app, err := newApp(Config{}, gate)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveApp(t, app, slog.New(slog.NewTextHandler(&logs, nil)))
	holdLock(t, app, accountLockKey(srv.id("ann")))
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "POST", srv.URL+"/accounts/"+srv.id("ann")+"/withdraw", strings.NewReader(`{"amount":1}`))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	gate.armed.Store(true)
	go func() {
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-gate.entered // the existence check: the request is being handled
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the request was answered although the lock is held")
	}
	// The withdrawal goes on to wait for the held lock (10s) until the
	// server sees that its client has gone.
	close(gate.release)
	srv.Close() // waits for the handler to finish
	out := logs.String()
	if !strings.Contains(out, `level=INFO msg="client closed request"`) || !strings.Contains(out, "status=499") {
		t.Errorf("log lacks the client-closed request at info:\n%s", out)
	}
	if strings.Contains(out, "level=ERROR") || strings.Contains(out, "status=500") {
		t.Errorf("a client that left was logged as a server failure:\n%s", out)
	}
}

// TestHTTPUnknownAccountLeavesNoState: money requests on an id that names
// no account answer 404 and leave nothing in Redis: no lock, no fencing
// counter, no idempotency record.
func TestHTTPUnknownAccountLeavesNoState(t *testing.T) {
	rs := redistest.Start(t)
	_, srv := newTestServer(t, Config{RedisAddr: rs.Addr()})
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	before, err := rdb.DBSize(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	h := []string{idempotencyKeyHeader, "ghost-key"}
	runRowsWith(t, srv, h, []contractRow{
		{"withdraw", "POST", "/accounts/ghost/withdraw", `{"amount":1}`, 404, `{"error":"account not found: ghost"}`, ""},
		{"deposit", "POST", "/accounts/ghost/deposit", `{"amount":1}`, 404, `{"error":"account not found: ghost"}`, ""},
		{"transfer", "POST", "/transfers", `{"from":"$ann","to":"ghost","amount":1}`, 404, `{"error":"account not found: ghost"}`, ""},
		{"stress", "POST", "/accounts/ghost/stress", `{"concurrent":2,"amount":1}`, 404, `{"error":"account not found: ghost"}`, ""},
	})
	keys, err := rdb.Keys(context.Background(), "*ghost*").Result()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := rdb.DBSize(context.Background()).Result()
	if len(keys) != 0 || after != before {
		t.Fatalf("requests on a nonexistent account left %v in Redis (%d keys before, %d after)", keys, before, after)
	}
}
