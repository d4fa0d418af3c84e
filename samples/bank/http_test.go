package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// testLockTimeout keeps contention tests short; the commands' own 10s would
// make each 409 take ten seconds.
const testLockTimeout = 50 * time.Millisecond

// newTestServer serves a fresh app built from cfg, with accounts 1 (ann,
// 1000) and 2 (bob, 500).
func newTestServer(t *testing.T, cfg Config) (*App, *httptest.Server) {
	t.Helper()
	app, err := NewApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHTTPHandler(app.Mediator, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(func() {
		srv.Close()
		if err := app.Close(context.Background()); err != nil {
			t.Errorf("closing the app: %v", err)
		}
	})
	for _, body := range []string{`{"owner":"ann","balance":1000}`, `{"owner":"bob","balance":500}`} {
		if status, _, got := call(t, srv, "POST", "/accounts", body); status != http.StatusCreated {
			t.Fatalf("creating an account: %d %s", status, got)
		}
	}
	return app, srv
}

// call makes one request and returns the status, the headers and the body
// without its final newline.
func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusMethodNotAllowed && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return resp.StatusCode, resp.Header, strings.TrimSuffix(string(data), "\n")
}

type contractRow struct {
	name         string
	method, path string
	body         string
	status       int
	want         string
}

func runRows(t *testing.T, srv *httptest.Server, rows []contractRow) {
	t.Helper()
	for _, r := range rows {
		status, header, got := call(t, srv, r.method, r.path, r.body)
		if status != r.status || got != r.want {
			t.Errorf("%s: %s %s %s\n got %d %s\nwant %d %s", r.name, r.method, r.path, r.body, status, got, r.status, r.want)
		}
		if ra := header.Get("Retry-After"); ra != "" {
			t.Errorf("%s: Retry-After %q on a %d", r.name, ra, status)
		}
	}
}

// storageKinds runs a test on the in-memory bank and on the Redis-backed one
// (accounts and locks in a real redis-server): the contract is the same.
func storageKinds(t *testing.T, cfg Config, test func(t *testing.T, cfg Config)) {
	t.Run("memory", func(t *testing.T) { test(t, cfg) })
	t.Run("redis", func(t *testing.T) {
		cfg := cfg
		cfg.RedisAddr = redistest.Start(t).Addr()
		test(t, cfg)
	})
}

// TestHTTPContract walks every row of the contract in DESIGN.md, in order,
// on one app: each row's expected body depends on the rows before it.
func TestHTTPContract(t *testing.T) {
	storageKinds(t, Config{LockTimeout: testLockTimeout}, testContract)
}

func testContract(t *testing.T, cfg Config) {
	_, srv := newTestServer(t, cfg)
	runRows(t, srv, []contractRow{
		{"create", "POST", "/accounts", `{"owner":"cy","balance":250}`, 201, `{"id":"3","owner":"cy","balance":250}`},
		{"create with zero balance", "POST", "/accounts", `{"owner":"di"}`, 201, `{"id":"4","owner":"di","balance":0}`},
		{"create malformed", "POST", "/accounts", `{"owner":`, 400, `{"error":"malformed JSON"}`},
		{"create not an object", "POST", "/accounts", `[1,2]`, 400, `{"error":"malformed JSON: the body must be an object"}`},
		{"create empty body", "POST", "/accounts", ``, 400, `{"error":"malformed JSON: empty body"}`},
		{"create two values", "POST", "/accounts", `{"owner":"ed"} {"owner":"ed"}`, 400, `{"error":"malformed JSON"}`},
		{"create unknown field", "POST", "/accounts", `{"owner":"ed","balance":1,"vip":true}`, 400, `{"error":"unknown field \"vip\""}`},
		{"create fractional balance", "POST", "/accounts", `{"owner":"ed","balance":10.5}`, 400, `{"error":"balance must be an integer number of cents"}`},
		{"create balance as string", "POST", "/accounts", `{"owner":"ed","balance":"10"}`, 400, `{"error":"balance must be an integer number of cents"}`},
		{"create negative balance", "POST", "/accounts", `{"owner":"ed","balance":-1}`, 400, `{"error":"balance must not be negative"}`},
		{"create without owner", "POST", "/accounts", `{"balance":1}`, 400, `{"error":"owner is required"}`},
		{"create owner not a string", "POST", "/accounts", `{"owner":7}`, 400, `{"error":"owner must be a string"}`},

		{"list", "GET", "/accounts", ``, 200, `[{"id":"1","owner":"ann","balance":1000},{"id":"2","owner":"bob","balance":500},{"id":"3","owner":"cy","balance":250},{"id":"4","owner":"di","balance":0}]`},
		{"get", "GET", "/accounts/2", ``, 200, `{"id":"2","owner":"bob","balance":500}`},
		{"get unknown", "GET", "/accounts/42", ``, 404, `{"error":"account not found: 42"}`},

		{"deposit", "POST", "/accounts/1/deposit", `{"amount":250}`, 200, `{"id":"1","owner":"ann","balance":1250}`},
		{"deposit zero", "POST", "/accounts/1/deposit", `{"amount":0}`, 400, `{"error":"amount must be a positive number of cents"}`},
		{"deposit without amount", "POST", "/accounts/1/deposit", `{}`, 400, `{"error":"amount must be a positive number of cents"}`},
		{"deposit negative", "POST", "/accounts/1/deposit", `{"amount":-5}`, 400, `{"error":"amount must be a positive number of cents"}`},
		{"deposit fractional", "POST", "/accounts/1/deposit", `{"amount":2.5}`, 400, `{"error":"amount must be an integer number of cents"}`},
		{"deposit exponent", "POST", "/accounts/1/deposit", `{"amount":1e3}`, 400, `{"error":"amount must be an integer number of cents"}`},
		{"deposit too big for int64", "POST", "/accounts/1/deposit", `{"amount":99999999999999999999}`, 400, `{"error":"amount must be an integer number of cents"}`},
		{"deposit unknown account", "POST", "/accounts/42/deposit", `{"amount":1}`, 404, `{"error":"account not found: 42"}`},
		{"deposit overflowing", "POST", "/accounts/1/deposit", `{"amount":9223372036854775807}`, 422, `{"error":"balance would overflow: account 1"}`},

		{"withdraw", "POST", "/accounts/1/withdraw", `{"amount":300}`, 200, `{"balance":950}`},
		{"withdraw everything", "POST", "/accounts/4/deposit", `{"amount":5}`, 200, `{"id":"4","owner":"di","balance":5}`},
		{"withdraw to zero", "POST", "/accounts/4/withdraw", `{"amount":5}`, 200, `{"balance":0}`},
		{"withdraw too much", "POST", "/accounts/1/withdraw", `{"amount":951}`, 422, `{"error":"insufficient funds: account 1 has 950 cents, 951 requested"}`},
		{"withdraw unknown account", "POST", "/accounts/42/withdraw", `{"amount":1}`, 404, `{"error":"account not found: 42"}`},
		{"withdraw zero", "POST", "/accounts/1/withdraw", `{"amount":0}`, 400, `{"error":"amount must be a positive number of cents"}`},
		{"withdraw fractional", "POST", "/accounts/1/withdraw", `{"amount":0.5}`, 400, `{"error":"amount must be an integer number of cents"}`},
		{"withdraw unknown field", "POST", "/accounts/1/withdraw", `{"amount":1,"currency":"EUR"}`, 400, `{"error":"unknown field \"currency\""}`},
		{"withdraw malformed", "POST", "/accounts/1/withdraw", `amount=1`, 400, `{"error":"malformed JSON"}`},

		{"transfer", "POST", "/transfers", `{"from":"1","to":"2","amount":150}`, 200, `{"from_balance":800,"to_balance":650}`},
		{"transfer back", "POST", "/transfers", `{"from":"2","to":"1","amount":650}`, 200, `{"from_balance":0,"to_balance":1450}`},
		{"transfer to itself", "POST", "/transfers", `{"from":"1","to":"1","amount":1}`, 400, `{"error":"from and to must be different accounts"}`},
		{"transfer without from", "POST", "/transfers", `{"to":"1","amount":1}`, 400, `{"error":"from and to are required"}`},
		{"transfer zero", "POST", "/transfers", `{"from":"1","to":"2","amount":0}`, 400, `{"error":"amount must be a positive number of cents"}`},
		{"transfer fractional", "POST", "/transfers", `{"from":"1","to":"2","amount":1.25}`, 400, `{"error":"amount must be an integer number of cents"}`},
		{"transfer from as number", "POST", "/transfers", `{"from":1,"to":"2","amount":1}`, 400, `{"error":"from must be a string"}`},
		{"transfer unknown field", "POST", "/transfers", `{"from":"1","to":"2","amount":1,"memo":"x"}`, 400, `{"error":"unknown field \"memo\""}`},
		{"transfer from unknown", "POST", "/transfers", `{"from":"42","to":"1","amount":1}`, 404, `{"error":"account not found: 42"}`},
		{"transfer to unknown", "POST", "/transfers", `{"from":"1","to":"43","amount":1}`, 404, `{"error":"account not found: 43"}`},
		{"transfer too much", "POST", "/transfers", `{"from":"2","to":"1","amount":1}`, 422, `{"error":"insufficient funds: account 2 has 0 cents, 1 requested"}`},

		// 1450 cents, 20 withdrawals of 100 at once: 14 paid, 6 refused, 50 left.
		{"stress", "POST", "/accounts/1/stress", `{"concurrent":20,"amount":100}`, 200, `{"succeeded":14,"rejected":6,"contended":0,"balance":50}`},
		{"stress zero", "POST", "/accounts/1/stress", `{"concurrent":0,"amount":1}`, 400, `{"error":"concurrent must be between 1 and 10000"}`},
		{"stress too many", "POST", "/accounts/1/stress", `{"concurrent":10001,"amount":1}`, 400, `{"error":"concurrent must be between 1 and 10000"}`},
		{"stress fractional concurrent", "POST", "/accounts/1/stress", `{"concurrent":2.5,"amount":1}`, 400, `{"error":"concurrent must be an integer"}`},
		{"stress zero amount", "POST", "/accounts/1/stress", `{"concurrent":5,"amount":0}`, 400, `{"error":"amount must be a positive number of cents"}`},
		{"stress unknown field", "POST", "/accounts/1/stress", `{"concurrent":5,"amount":1,"n":3}`, 400, `{"error":"unknown field \"n\""}`},
		{"stress unknown account", "POST", "/accounts/42/stress", `{"concurrent":5,"amount":1}`, 404, `{"error":"account not found: 42"}`},

		{"healthz", "GET", "/healthz", ``, 200, `{"status":"ok"}`},
		{"list after all that", "GET", "/accounts", ``, 200, `[{"id":"1","owner":"ann","balance":50},{"id":"2","owner":"bob","balance":0},{"id":"3","owner":"cy","balance":250},{"id":"4","owner":"di","balance":0}]`},
	})
}

func TestHTTPCreateSetsLocation(t *testing.T) {
	_, srv := newTestServer(t, Config{})
	status, header, _ := call(t, srv, "POST", "/accounts", `{"owner":"cy","balance":1}`)
	if status != 201 || header.Get("Location") != "/accounts/3" {
		t.Fatalf("create: %d, Location %q; want 201, /accounts/3", status, header.Get("Location"))
	}
}

func TestHTTPListEmpty(t *testing.T) {
	app, err := NewApp(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	srv := httptest.NewServer(NewHTTPHandler(app.Mediator, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	if status, _, got := call(t, srv, "GET", "/accounts", ""); status != 200 || got != "[]" {
		t.Fatalf("GET /accounts on an empty bank: %d %s; want 200 []", status, got)
	}
}

func TestHTTPBodyTooLarge(t *testing.T) {
	_, srv := newTestServer(t, Config{})
	body := `{"owner":"` + strings.Repeat("x", maxBody) + `"}`
	status, _, got := call(t, srv, "POST", "/accounts", body)
	if status != 400 || got != `{"error":"request body is larger than 65536 bytes"}` {
		t.Fatalf("oversized body: %d %s", status, got)
	}
}

func TestHTTPWrongMethod(t *testing.T) {
	_, srv := newTestServer(t, Config{})
	if status, header, _ := call(t, srv, "DELETE", "/accounts/1", ""); status != http.StatusMethodNotAllowed || header.Get("Allow") == "" {
		t.Fatalf("DELETE /accounts/1: %d, Allow %q; want 405 with Allow", status, header.Get("Allow"))
	}
}

// holdLock takes key from the app's own lock provider, as another request
// (or instance) holding the account would, until the test ends or the
// returned release is called.
func holdLock(t *testing.T, app *App, key string) (release func()) {
	t.Helper()
	var h locking.Handle
	err := app.Mediator.Invoke(func(p locking.Provider) error {
		var err error
		h, err = p.TryAcquire(context.Background(), key, 0)
		return err
	})
	if err != nil {
		t.Fatalf("holding %s: %v", key, err)
	}
	release = func() {
		if err := h.Release(context.Background()); err != nil {
			t.Errorf("releasing %s: %v", key, err)
		}
	}
	t.Cleanup(release)
	return release
}

// TestHTTPContentionIs409WithRetryAfter: while account 1's lock is held
// elsewhere, every operation that moves its money answers 409 with
// Retry-After, transfers in either direction included (they share the
// withdrawal's lock), while account 1 can still be read and account 2 alone
// can still be used.
func TestHTTPContentionIs409WithRetryAfter(t *testing.T) {
	storageKinds(t, Config{LockTimeout: testLockTimeout}, testContention)
}

func testContention(t *testing.T, cfg Config) {
	app, srv := newTestServer(t, cfg)
	release := holdLock(t, app, "account:1")
	busy := `{"error":"account is busy: lock account:1 not acquired within 50ms, retry later"}`
	for _, r := range []struct{ path, body string }{
		{"/accounts/1/withdraw", `{"amount":1}`},
		{"/accounts/1/deposit", `{"amount":1}`},
		{"/transfers", `{"from":"1","to":"2","amount":1}`},
		{"/transfers", `{"from":"2","to":"1","amount":1}`},
	} {
		start := time.Now()
		status, header, got := call(t, srv, "POST", r.path, r.body)
		if status != http.StatusConflict || got != busy || header.Get("Retry-After") != "1" {
			t.Errorf("POST %s %s with account 1 locked: %d, Retry-After %q, %s; want 409, 1, %s",
				r.path, r.body, status, header.Get("Retry-After"), got, busy)
		}
		if waited := time.Since(start); waited < testLockTimeout {
			t.Errorf("POST %s answered 409 after %s, before the %s lock timeout", r.path, waited, testLockTimeout)
		}
	}
	runRows(t, srv, []contractRow{
		{"read while locked", "GET", "/accounts/1", ``, 200, `{"id":"1","owner":"ann","balance":1000}`},
		{"other account", "POST", "/accounts/2/withdraw", `{"amount":1}`, 200, `{"balance":499}`},
	})
	release()
	runRows(t, srv, []contractRow{
		{"after release", "POST", "/accounts/1/withdraw", `{"amount":1}`, 200, `{"balance":999}`},
	})
}

// TestHTTPStressCountsContention: with a 1ms lock timeout and 20ms of work
// per withdrawal, most of the concurrent withdrawals give up on the lock.
func TestHTTPStressCountsContention(t *testing.T) {
	_, srv := newTestServer(t, Config{LockTimeout: time.Millisecond, Work: 20 * time.Millisecond})
	status, _, got := call(t, srv, "POST", "/accounts/1/stress", `{"concurrent":8,"amount":10}`)
	var res StressResult
	if status != 200 || !decodeInto(t, got, &res) {
		t.Fatalf("stress: %d %s", status, got)
	}
	if res.Contended < 1 || res.Succeeded < 1 || res.Rejected != 0 || res.Succeeded+res.Contended != 8 {
		t.Fatalf("stress = %+v; want some succeeded, some contended, 8 in all", res)
	}
	if want := 1000 - 10*int64(res.Succeeded); res.Balance != want {
		t.Fatalf("balance %d after %d withdrawals of 10 from 1000, want %d", res.Balance, res.Succeeded, want)
	}
}

// TestHTTPStressLockedVersusUnlocked is the whole point in one process: the
// same 50 concurrent withdrawals keep the books exact with the lock and lose
// updates without it.
func TestHTTPStressLockedVersusUnlocked(t *testing.T) {
	for _, noLock := range []bool{false, true} {
		_, srv := newTestServer(t, Config{NoLock: noLock, Work: 10 * time.Millisecond})
		status, _, got := call(t, srv, "POST", "/accounts/1/stress", `{"concurrent":50,"amount":1}`)
		var res StressResult
		if status != 200 || !decodeInto(t, got, &res) {
			t.Fatalf("stress (no-lock %v): %d %s", noLock, status, got)
		}
		paidOut := int64(res.Succeeded)
		if res.Succeeded != 50 || res.Rejected != 0 || res.Contended != 0 {
			t.Fatalf("stress (no-lock %v) = %+v; want 50 succeeded", noLock, res)
		}
		if !noLock && res.Balance != 1000-paidOut {
			t.Fatalf("locked: balance %d after paying out %d from 1000", res.Balance, paidOut)
		}
		if noLock && res.Balance == 1000-paidOut {
			t.Fatalf("-no-lock: balance %d is exact after 50 overlapping withdrawals; the unlocked run was expected to lose updates", res.Balance)
		}
	}
}

func decodeInto(t *testing.T, body string, v any) bool {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Errorf("decoding %s: %v", body, err)
		return false
	}
	return true
}

// TestHTTPRedisDownIs503: with the redis-server killed, calls that need a
// lock answer 503 from the lock provider and reads answer 503 from the
// store; once Redis is back (empty, as after a crash without persistence),
// the same app serves again without a restart.
func TestHTTPRedisDownIs503(t *testing.T) {
	redisSrv := redistest.Start(t)
	_, srv := newTestServer(t, Config{RedisAddr: redisSrv.Addr()})
	redisSrv.Kill()
	lockDown := `{"error":"lock provider unavailable"}`
	storeDown := `{"error":"account store unavailable"}`
	runRows(t, srv, []contractRow{
		{"withdraw", "POST", "/accounts/1/withdraw", `{"amount":1}`, 503, lockDown},
		{"deposit", "POST", "/accounts/1/deposit", `{"amount":1}`, 503, lockDown},
		{"transfer", "POST", "/transfers", `{"from":"1","to":"2","amount":1}`, 503, lockDown},
		{"get", "GET", "/accounts/1", ``, 503, storeDown},
		{"list", "GET", "/accounts", ``, 503, storeDown},
		{"create", "POST", "/accounts", `{"owner":"cy","balance":1}`, 503, storeDown},
		{"stress", "POST", "/accounts/1/stress", `{"concurrent":3,"amount":1}`, 503, storeDown},
		{"bad input is still 400", "POST", "/accounts/1/withdraw", `{"amount":-1}`, 400, `{"error":"amount must be a positive number of cents"}`},
		{"healthz", "GET", "/healthz", ``, 200, `{"status":"ok"}`},
	})
	redisSrv.Restart()
	runRows(t, srv, []contractRow{
		{"accounts lost with the server", "GET", "/accounts/1", ``, 404, `{"error":"account not found: 1"}`},
		{"create again", "POST", "/accounts", `{"owner":"cy","balance":10}`, 201, `{"id":"1","owner":"cy","balance":10}`},
		{"withdraw again", "POST", "/accounts/1/withdraw", `{"amount":1}`, 200, `{"balance":9}`},
	})
}
