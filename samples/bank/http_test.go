package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// contentionLockTimeout is the lock wait of the tests whose property is a
// 409 while another holder has the lock: they wait it out on purpose. Tests
// whose property is not about time keep the commands' 10s, so that a busy
// machine cannot turn a slow lock into a 409.
const contentionLockTimeout = 300 * time.Millisecond

// testServer is the bank under test and the ids of what it holds: "ann"
// (1000 cents) and "bob" (500) from the start, and whatever a test names.
type testServer struct {
	*httptest.Server
	mu  sync.Mutex
	ids map[string]string
}

// id is the account id a test calls name.
func (s *testServer) id(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[name]
}

// expand replaces $name by the id of name in text.
func (s *testServer) expand(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, id := range s.ids {
		text = strings.ReplaceAll(text, "$"+name, id)
	}
	return text
}

func (s *testServer) remember(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[name] = id
}

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// newTestServer serves a fresh app built from cfg, with accounts ann (1000)
// and bob (500).
func newTestServer(t *testing.T, cfg Config) (*App, *testServer) {
	t.Helper()
	app, err := NewApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return app, serveApp(t, app, discardLog)
}

// serveApp serves app (closing it when the test ends) with ann and bob.
func serveApp(t *testing.T, app *App, log *slog.Logger) *testServer {
	t.Helper()
	srv := &testServer{Server: httptest.NewServer(NewHTTPHandler(app, log)), ids: map[string]string{}}
	t.Cleanup(func() {
		srv.Close()
		if err := app.Close(context.Background()); err != nil {
			t.Errorf("closing the app: %v", err)
		}
	})
	for _, a := range []struct {
		name    string
		balance int
	}{{"ann", 1000}, {"bob", 500}} {
		status, _, got := call(t, srv, "POST", "/accounts", fmt.Sprintf(`{"owner":%q,"balance":%d}`, a.name, a.balance))
		var acct Account
		if status != http.StatusCreated || json.Unmarshal([]byte(got), &acct) != nil {
			t.Fatalf("creating an account: %d %s", status, got)
		}
		srv.remember(a.name, acct.ID)
	}
	return srv
}

// call makes one request and returns the status, the headers and the body
// without its final newline. $name in path and body stands for an id;
// headers are name, value pairs.
func call(t *testing.T, srv *testServer, method, path, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+srv.expand(path), strings.NewReader(srv.expand(body)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
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
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
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
	// save, when set, names the id of the account the answer holds, for
	// $save in this row's want and the rows after it.
	save string
}

var idField = regexp.MustCompile(`"id":"([^"]*)"`)

func runRows(t *testing.T, srv *testServer, rows []contractRow) {
	t.Helper()
	for _, r := range rows {
		status, header, got := call(t, srv, r.method, r.path, r.body)
		if r.save != "" {
			if m := idField.FindStringSubmatch(got); m != nil {
				srv.remember(r.save, m[1])
			}
		}
		want := srv.expand(r.want)
		if status != r.status || got != want {
			t.Errorf("%s: %s %s %s\n got %d %s\nwant %d %s", r.name, r.method, r.path, r.body, status, got, r.status, want)
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
	postgresStorageKind(t, cfg, test)
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestHTTPContract walks every row of the contract in DESIGN.md, in order,
// on one app: each row's expected body depends on the rows before it.
func TestHTTPContract(t *testing.T) {
	storageKinds(t, Config{}, testContract)
}

func testContract(t *testing.T, cfg Config) {
	_, srv := newTestServer(t, cfg)
	long := strings.Repeat("x", maxIDLength+1)
	runRows(t, srv, []contractRow{
		{"create", "POST", "/accounts", `{"owner":"cy","balance":250}`, 201, `{"id":"$cy","owner":"cy","balance":250}`, "cy"},
		{"create with zero balance", "POST", "/accounts", `{"owner":"di"}`, 201, `{"id":"$di","owner":"di","balance":0}`, "di"},
		{"create malformed", "POST", "/accounts", `{"owner":`, 400, `{"error":"malformed JSON"}`, ""},
		{"create not an object", "POST", "/accounts", `[1,2]`, 400, `{"error":"malformed JSON: the body must be an object"}`, ""},
		{"create empty body", "POST", "/accounts", ``, 400, `{"error":"malformed JSON: empty body"}`, ""},
		{"create two values", "POST", "/accounts", `{"owner":"ed"} {"owner":"ed"}`, 400, `{"error":"malformed JSON: data after the object"}`, ""},
		{"create trailing brace", "POST", "/accounts", `{"owner":"ed"}}`, 400, `{"error":"malformed JSON: data after the object"}`, ""},
		{"create trailing white space is fine", "POST", "/accounts", "{\"owner\":\"ed\"} \n\t", 201, `{"id":"$ed","owner":"ed","balance":0}`, "ed"},
		{"create unknown field", "POST", "/accounts", `{"owner":"ed","balance":1,"vip":true}`, 400, `{"error":"unknown field \"vip\""}`, ""},
		{"create fractional balance", "POST", "/accounts", `{"owner":"ed","balance":10.5}`, 400, `{"error":"balance must be an integer number of cents"}`, ""},
		{"create balance as string", "POST", "/accounts", `{"owner":"ed","balance":"10"}`, 400, `{"error":"balance must be an integer number of cents"}`, ""},
		{"create negative balance", "POST", "/accounts", `{"owner":"ed","balance":-1}`, 400, `{"error":"balance must not be negative"}`, ""},
		{"create without owner", "POST", "/accounts", `{"balance":1}`, 400, `{"error":"owner is required"}`, ""},
		{"create owner not a string", "POST", "/accounts", `{"owner":7}`, 400, `{"error":"owner must be a string"}`, ""},
		{"create owner too long", "POST", "/accounts", `{"owner":"` + strings.Repeat("é", maxOwnerLength/2+1) + `"}`, 400, `{"error":"owner is longer than 200 bytes"}`, ""},
		{"create owner longest", "POST", "/accounts", `{"owner":"` + strings.Repeat("o", maxOwnerLength) + `"}`, 201, `{"id":"$long","owner":"` + strings.Repeat("o", maxOwnerLength) + `","balance":0}`, "long"},
		{"create owner with a control character", "POST", "/accounts", `{"owner":"a\u0007b"}`, 400, `{"error":"owner must not contain control characters"}`, ""},
		{"create owner with a newline", "POST", "/accounts", `{"owner":"a\nb"}`, 400, `{"error":"owner must not contain control characters"}`, ""},

		{"list", "GET", "/accounts", ``, 200, `{"accounts":[{"id":"$ann","owner":"ann","balance":1000},{"id":"$bob","owner":"bob","balance":500},{"id":"$cy","owner":"cy","balance":250},{"id":"$di","owner":"di","balance":0},{"id":"$ed","owner":"ed","balance":0},{"id":"$long","owner":"` + strings.Repeat("o", maxOwnerLength) + `","balance":0}]}`, ""},
		{"list a page", "GET", "/accounts?limit=2", ``, 200, `{"accounts":[{"id":"$ann","owner":"ann","balance":1000},{"id":"$bob","owner":"bob","balance":500}],"next_cursor":"$bob"}`, ""},
		{"list the next page", "GET", "/accounts?limit=2&cursor=$bob", ``, 200, `{"accounts":[{"id":"$cy","owner":"cy","balance":250},{"id":"$di","owner":"di","balance":0}],"next_cursor":"$di"}`, ""},
		{"list limit 0", "GET", "/accounts?limit=0", ``, 400, `{"error":"limit must be between 1 and 1000"}`, ""},
		{"list limit too big", "GET", "/accounts?limit=1001", ``, 400, `{"error":"limit must be between 1 and 1000"}`, ""},
		{"list limit not a number", "GET", "/accounts?limit=ten", ``, 400, `{"error":"limit must be between 1 and 1000"}`, ""},
		{"list cursor too long", "GET", "/accounts?cursor=" + long, ``, 400, `{"error":"cursor is longer than 64 bytes"}`, ""},
		{"get", "GET", "/accounts/$bob", ``, 200, `{"id":"$bob","owner":"bob","balance":500}`, ""},
		{"get unknown", "GET", "/accounts/42", ``, 404, `{"error":"account not found: 42"}`, ""},
		{"get id too long", "GET", "/accounts/" + long, ``, 400, `{"error":"account id is longer than 64 bytes"}`, ""},

		{"deposit", "POST", "/accounts/$ann/deposit", `{"amount":250}`, 200, `{"id":"$ann","owner":"ann","balance":1250}`, ""},
		{"deposit zero", "POST", "/accounts/$ann/deposit", `{"amount":0}`, 400, `{"error":"amount must be a positive number of cents"}`, ""},
		{"deposit without amount", "POST", "/accounts/$ann/deposit", `{}`, 400, `{"error":"amount must be a positive number of cents"}`, ""},
		{"deposit negative", "POST", "/accounts/$ann/deposit", `{"amount":-5}`, 400, `{"error":"amount must be a positive number of cents"}`, ""},
		{"deposit fractional", "POST", "/accounts/$ann/deposit", `{"amount":2.5}`, 400, `{"error":"amount must be an integer number of cents"}`, ""},
		{"deposit exponent", "POST", "/accounts/$ann/deposit", `{"amount":1e3}`, 400, `{"error":"amount must be an integer number of cents"}`, ""},
		{"deposit too big for int64", "POST", "/accounts/$ann/deposit", `{"amount":99999999999999999999}`, 400, `{"error":"amount must be an integer number of cents"}`, ""},
		{"deposit unknown account", "POST", "/accounts/42/deposit", `{"amount":1}`, 404, `{"error":"account not found: 42"}`, ""},
		{"deposit id too long", "POST", "/accounts/" + long + "/deposit", `{"amount":1}`, 400, `{"error":"account id is longer than 64 bytes"}`, ""},
		{"deposit overflowing", "POST", "/accounts/$ann/deposit", `{"amount":9223372036854775807}`, 422, `{"error":"balance would overflow: account $ann"}`, ""},

		{"withdraw", "POST", "/accounts/$ann/withdraw", `{"amount":300}`, 200, `{"balance":950}`, ""},
		{"withdraw with trailing data", "POST", "/accounts/$ann/withdraw", `{"amount":1}}{"amount":1000}`, 400, `{"error":"malformed JSON: data after the object"}`, ""},
		{"withdraw everything", "POST", "/accounts/$di/deposit", `{"amount":5}`, 200, `{"id":"$di","owner":"di","balance":5}`, ""},
		{"withdraw to zero", "POST", "/accounts/$di/withdraw", `{"amount":5}`, 200, `{"balance":0}`, ""},
		{"withdraw too much", "POST", "/accounts/$ann/withdraw", `{"amount":951}`, 422, `{"error":"insufficient funds: account $ann has 950 cents, 951 requested"}`, ""},
		{"withdraw unknown account", "POST", "/accounts/42/withdraw", `{"amount":1}`, 404, `{"error":"account not found: 42"}`, ""},
		{"withdraw id too long", "POST", "/accounts/" + long + "/withdraw", `{"amount":1}`, 400, `{"error":"account id is longer than 64 bytes"}`, ""},
		{"withdraw zero", "POST", "/accounts/$ann/withdraw", `{"amount":0}`, 400, `{"error":"amount must be a positive number of cents"}`, ""},
		{"withdraw fractional", "POST", "/accounts/$ann/withdraw", `{"amount":0.5}`, 400, `{"error":"amount must be an integer number of cents"}`, ""},
		{"withdraw unknown field", "POST", "/accounts/$ann/withdraw", `{"amount":1,"currency":"EUR"}`, 400, `{"error":"unknown field \"currency\""}`, ""},
		{"withdraw malformed", "POST", "/accounts/$ann/withdraw", `amount=1`, 400, `{"error":"malformed JSON"}`, ""},

		{"transfer", "POST", "/transfers", `{"from":"$ann","to":"$bob","amount":150}`, 200, `{"from_balance":800,"to_balance":650}`, ""},
		{"transfer back", "POST", "/transfers", `{"from":"$bob","to":"$ann","amount":650}`, 200, `{"from_balance":0,"to_balance":1450}`, ""},
		{"transfer to itself", "POST", "/transfers", `{"from":"$ann","to":"$ann","amount":1}`, 400, `{"error":"from and to must be different accounts"}`, ""},
		{"transfer without from", "POST", "/transfers", `{"to":"$ann","amount":1}`, 400, `{"error":"from and to are required"}`, ""},
		{"transfer zero", "POST", "/transfers", `{"from":"$ann","to":"$bob","amount":0}`, 400, `{"error":"amount must be a positive number of cents"}`, ""},
		{"transfer fractional", "POST", "/transfers", `{"from":"$ann","to":"$bob","amount":1.25}`, 400, `{"error":"amount must be an integer number of cents"}`, ""},
		{"transfer from as number", "POST", "/transfers", `{"from":1,"to":"$bob","amount":1}`, 400, `{"error":"from must be a string"}`, ""},
		{"transfer unknown field", "POST", "/transfers", `{"from":"$ann","to":"$bob","amount":1,"memo":"x"}`, 400, `{"error":"unknown field \"memo\""}`, ""},
		{"transfer from unknown", "POST", "/transfers", `{"from":"42","to":"$ann","amount":1}`, 404, `{"error":"account not found: 42"}`, ""},
		{"transfer to unknown", "POST", "/transfers", `{"from":"$ann","to":"43","amount":1}`, 404, `{"error":"account not found: 43"}`, ""},
		{"transfer to an id too long", "POST", "/transfers", `{"from":"$ann","to":"` + long + `","amount":1}`, 400, `{"error":"to is longer than 64 bytes"}`, ""},
		{"transfer too much", "POST", "/transfers", `{"from":"$bob","to":"$ann","amount":1}`, 422, `{"error":"insufficient funds: account $bob has 0 cents, 1 requested"}`, ""},

		// 1450 cents, 20 withdrawals of 100 at once: 14 paid, 6 refused, 50 left.
		{"stress", "POST", "/accounts/$ann/stress", `{"concurrent":20,"amount":100}`, 200, `{"succeeded":14,"rejected":6,"contended":0,"balance":50}`, ""},
		{"stress zero", "POST", "/accounts/$ann/stress", `{"concurrent":0,"amount":1}`, 400, `{"error":"concurrent must be between 1 and 1000"}`, ""},
		{"stress too many", "POST", "/accounts/$ann/stress", `{"concurrent":1001,"amount":1}`, 400, `{"error":"concurrent must be between 1 and 1000"}`, ""},
		{"stress fractional concurrent", "POST", "/accounts/$ann/stress", `{"concurrent":2.5,"amount":1}`, 400, `{"error":"concurrent must be an integer"}`, ""},
		{"stress zero amount", "POST", "/accounts/$ann/stress", `{"concurrent":5,"amount":0}`, 400, `{"error":"amount must be a positive number of cents"}`, ""},
		{"stress unknown field", "POST", "/accounts/$ann/stress", `{"concurrent":5,"amount":1,"n":3}`, 400, `{"error":"unknown field \"n\""}`, ""},
		{"stress unknown account", "POST", "/accounts/42/stress", `{"concurrent":5,"amount":1}`, 404, `{"error":"account not found: 42"}`, ""},

		{"healthz", "GET", "/healthz", ``, 200, `{"status":"ok"}`, ""},
		{"readyz", "GET", "/readyz", ``, 200, `{"status":"ready"}`, ""},
		{"list after all that", "GET", "/accounts?limit=4", ``, 200, `{"accounts":[{"id":"$ann","owner":"ann","balance":50},{"id":"$bob","owner":"bob","balance":0},{"id":"$cy","owner":"cy","balance":250},{"id":"$di","owner":"di","balance":0}],"next_cursor":"$di"}`, ""},
	})
	for _, name := range []string{"ann", "bob", "cy", "di", "ed", "long"} {
		if id := srv.id(name); !uuidV7.MatchString(id) {
			t.Errorf("%s's id %q is not a UUIDv7", name, id)
		}
	}
}

// TestHTTPRouterErrorsAreJSON: the router's own 404 and 405 are JSON like
// every other error, and the 405 keeps its Allow header.
func TestHTTPRouterErrorsAreJSON(t *testing.T) {
	_, srv := newTestServer(t, Config{})
	runRows(t, srv, []contractRow{
		{"unknown path", "GET", "/nope", ``, 404, `{"error":"no such endpoint"}`, ""},
		{"unknown sub-path", "POST", "/accounts/$ann/close", `{}`, 404, `{"error":"no such endpoint"}`, ""},
	})
	for _, c := range []struct{ method, path, allow string }{
		{"DELETE", "/accounts/$ann", "GET, HEAD"},
		{"GET", "/transfers", "POST"},
		{"PUT", "/accounts", "GET, HEAD, POST"},
	} {
		status, header, got := call(t, srv, c.method, c.path, "")
		if status != http.StatusMethodNotAllowed || got != `{"error":"method not allowed"}` || header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d, Allow %q, %s; want 405, %q, {\"error\":\"method not allowed\"}", c.method, c.path, status, header.Get("Allow"), got, c.allow)
		}
	}
}

func TestHTTPCreateSetsLocation(t *testing.T) {
	_, srv := newTestServer(t, Config{})
	status, header, got := call(t, srv, "POST", "/accounts", `{"owner":"cy","balance":1}`)
	var a Account
	if status != 201 || !decodeInto(t, got, &a) || header.Get("Location") != "/accounts/"+a.ID {
		t.Fatalf("create: %d, Location %q, %s; want 201, /accounts/{id}", status, header.Get("Location"), got)
	}
}

func TestHTTPListEmpty(t *testing.T) {
	app, err := NewApp(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	srv := httptest.NewServer(NewHTTPHandler(app, discardLog))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/accounts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got := string(bytes.TrimSpace(body)); resp.StatusCode != 200 || got != `{"accounts":[]}` {
		t.Fatalf("GET /accounts on an empty bank: %d %s; want 200 {\"accounts\":[]}", resp.StatusCode, got)
	}
}

// TestHTTPListPages: 250 accounts are listed 100 at a time by default, each
// exactly once and in id order, following next_cursor; limit=1000 takes them
// all at once.
func TestHTTPListPages(t *testing.T) {
	storageKinds(t, Config{}, func(t *testing.T, cfg Config) {
		app, srv := newTestServer(t, cfg)
		for i := range 248 {
			if _, err := app.Store.Create(context.Background(), fmt.Sprintf("owner %d", i), int64(i), nil); err != nil {
				t.Fatal(err)
			}
		}
		var seen []string
		cursor, pages := "", 0
		for {
			path := "/accounts"
			if cursor != "" {
				path += "?cursor=" + cursor
			}
			status, _, got := call(t, srv, "GET", path, "")
			var page AccountPage
			if status != 200 || !decodeInto(t, got, &page) {
				t.Fatalf("GET %s: %d %s", path, status, got)
			}
			pages++
			if len(page.Accounts) > defaultPageLimit {
				t.Fatalf("page %d holds %d accounts, more than %d", pages, len(page.Accounts), defaultPageLimit)
			}
			for _, a := range page.Accounts {
				seen = append(seen, a.ID)
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if pages != 3 || len(seen) != 250 {
			t.Fatalf("%d pages, %d accounts; want 3 pages, 250 accounts", pages, len(seen))
		}
		for i := 1; i < len(seen); i++ {
			if seen[i-1] >= seen[i] {
				t.Fatalf("ids out of order or repeated at %d: %s, %s", i, seen[i-1], seen[i])
			}
		}
		status, _, got := call(t, srv, "GET", "/accounts?limit=1000", "")
		var page AccountPage
		if status != 200 || !decodeInto(t, got, &page) || len(page.Accounts) != 250 || page.NextCursor != "" {
			t.Fatalf("limit=1000: %d, %d accounts, cursor %q", status, len(page.Accounts), page.NextCursor)
		}
	})
}

func TestHTTPBodyTooLarge(t *testing.T) {
	_, srv := newTestServer(t, Config{})
	body := `{"owner":"` + strings.Repeat("x", maxBody) + `"}`
	status, _, got := call(t, srv, "POST", "/accounts", body)
	if status != 400 || got != `{"error":"request body is larger than 65536 bytes"}` {
		t.Fatalf("oversized body: %d %s", status, got)
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
	var once sync.Once
	release = func() {
		once.Do(func() {
			if err := h.Release(context.Background()); err != nil {
				t.Errorf("releasing %s: %v", key, err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// TestHTTPContentionIs409WithRetryAfter: while ann's lock is held
// elsewhere, every operation that moves her money answers 409 with
// Retry-After, transfers in either direction included (they share the
// withdrawal's lock), while her account can still be read and bob's alone
// can still be used.
func TestHTTPContentionIs409WithRetryAfter(t *testing.T) {
	storageKinds(t, Config{LockTimeout: contentionLockTimeout}, testContention)
}

func testContention(t *testing.T, cfg Config) {
	app, srv := newTestServer(t, cfg)
	release := holdLock(t, app, accountLockKey(srv.id("ann")))
	busy := srv.expand(`{"error":"account is busy: lock account:$ann not acquired within 300ms, retry later"}`)
	for _, r := range []struct{ path, body string }{
		{"/accounts/$ann/withdraw", `{"amount":1}`},
		{"/accounts/$ann/deposit", `{"amount":1}`},
		{"/transfers", `{"from":"$ann","to":"$bob","amount":1}`},
		{"/transfers", `{"from":"$bob","to":"$ann","amount":1}`},
	} {
		start := time.Now()
		status, header, got := call(t, srv, "POST", r.path, r.body)
		if status != http.StatusConflict || got != busy || header.Get("Retry-After") != "1" {
			t.Errorf("POST %s %s with ann locked: %d, Retry-After %q, %s; want 409, 1, %s",
				r.path, r.body, status, header.Get("Retry-After"), got, busy)
		}
		if waited := time.Since(start); waited < contentionLockTimeout {
			t.Errorf("POST %s answered 409 after %s, before the %s lock timeout", r.path, waited, contentionLockTimeout)
		}
	}
	runRows(t, srv, []contractRow{
		{"read while locked", "GET", "/accounts/$ann", ``, 200, `{"id":"$ann","owner":"ann","balance":1000}`, ""},
		{"other account", "POST", "/accounts/$bob/withdraw", `{"amount":1}`, 200, `{"balance":499}`, ""},
	})
	release()
	runRows(t, srv, []contractRow{
		{"after release", "POST", "/accounts/$ann/withdraw", `{"amount":1}`, 200, `{"balance":999}`, ""},
	})
}

// TestHTTPStressCountsContention: with a 1ms lock timeout and 20ms of work
// per withdrawal, some of the concurrent withdrawals give up on the lock.
// The first always gets it: the property is the counting, and only "some"
// depends on timing, which a 20x margin covers.
func TestHTTPStressCountsContention(t *testing.T) {
	_, srv := newTestServer(t, Config{LockTimeout: time.Millisecond, Work: 20 * time.Millisecond})
	status, _, got := call(t, srv, "POST", "/accounts/$ann/stress", `{"concurrent":8,"amount":10}`)
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
		status, _, got := call(t, srv, "POST", "/accounts/$ann/stress", `{"concurrent":50,"amount":1}`)
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
// lock answer 503 from the lock provider, reads answer 503 from the store,
// /readyz says so while /healthz stays 200; once Redis is back (empty, as
// after a crash without persistence), the same app serves again without a
// restart, and a new account never gets an id that was given out before.
func TestHTTPRedisDownIs503(t *testing.T) {
	redisSrv := redistest.Start(t)
	_, srv := newTestServer(t, Config{RedisAddr: redisSrv.Addr()})
	redisSrv.Kill()
	storeDown := `{"error":"account store unavailable"}`
	runRows(t, srv, []contractRow{
		// The existence check reads the store first.
		{"withdraw", "POST", "/accounts/$ann/withdraw", `{"amount":1}`, 503, storeDown, ""},
		{"deposit", "POST", "/accounts/$ann/deposit", `{"amount":1}`, 503, storeDown, ""},
		{"transfer", "POST", "/transfers", `{"from":"$ann","to":"$bob","amount":1}`, 503, storeDown, ""},
		{"get", "GET", "/accounts/$ann", ``, 503, storeDown, ""},
		{"list", "GET", "/accounts", ``, 503, storeDown, ""},
		{"create", "POST", "/accounts", `{"owner":"cy","balance":1}`, 503, storeDown, ""},
		{"stress", "POST", "/accounts/$ann/stress", `{"concurrent":3,"amount":1}`, 503, storeDown, ""},
		{"bad input is still 400", "POST", "/accounts/$ann/withdraw", `{"amount":-1}`, 400, `{"error":"amount must be a positive number of cents"}`, ""},
		{"healthz", "GET", "/healthz", ``, 200, `{"status":"ok"}`, ""},
		{"readyz", "GET", "/readyz", ``, 503, `{"error":"not ready: account store unreachable, lock provider unreachable"}`, ""},
	})
	status, _, got := call(t, srv, "POST", "/accounts", `{"owner":"cy","balance":1}`, idempotencyKeyHeader, "k")
	if status != 503 || got != storeDown {
		t.Errorf("create with an Idempotency-Key, Redis down: %d %s", status, got)
	}
	redisSrv.Restart()
	runRows(t, srv, []contractRow{
		{"readyz again", "GET", "/readyz", ``, 200, `{"status":"ready"}`, ""},
		{"accounts lost with the server", "GET", "/accounts/$ann", ``, 404, `{"error":"account not found: $ann"}`, ""},
		{"create again", "POST", "/accounts", `{"owner":"cy","balance":10}`, 201, `{"id":"$cy","owner":"cy","balance":10}`, "cy"},
		{"withdraw again", "POST", "/accounts/$cy/withdraw", `{"amount":1}`, 200, `{"balance":9}`, ""},
		{"the lost id names nothing", "POST", "/accounts/$ann/withdraw", `{"amount":1}`, 404, `{"error":"account not found: $ann"}`, ""},
	})
	if srv.id("cy") == srv.id("ann") || srv.id("cy") == srv.id("bob") {
		t.Fatalf("an id was given out again after Redis lost everything: %s", srv.id("cy"))
	}
}

// TestHTTPReadyzWhenOnlyTheLockRedisIsDown: accounts on one Redis, locks on
// another; with the lock Redis down, /readyz names the lock provider alone.
func TestHTTPReadyzWhenOnlyTheLockRedisIsDown(t *testing.T) {
	store, locks := redistest.Start(t), redistest.Start(t)
	_, srv := newTestServer(t, Config{RedisAddr: store.Addr(), LockRedisAddr: locks.Addr()})
	locks.Kill()
	lockDown := `{"error":"lock provider unavailable"}`
	runRows(t, srv, []contractRow{
		{"readyz", "GET", "/readyz", ``, 503, `{"error":"not ready: lock provider unreachable"}`, ""},
		{"healthz", "GET", "/healthz", ``, 200, `{"status":"ok"}`, ""},
		{"withdraw", "POST", "/accounts/$ann/withdraw", `{"amount":1}`, 503, lockDown, ""},
		{"transfer", "POST", "/transfers", `{"from":"$ann","to":"$bob","amount":1}`, 503, lockDown, ""},
		{"get", "GET", "/accounts/$ann", ``, 200, `{"id":"$ann","owner":"ann","balance":1000}`, ""},
	})
}
