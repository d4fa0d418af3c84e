package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunLoadSummary drives the real bank (in memory, locked) through two
// "instances" and checks every count of the summary.
func TestRunLoadSummary(t *testing.T) {
	_, srv := newTestServer(t, Config{})
	s, err := RunLoad(context.Background(), LoadConfig{
		URLs: []string{srv.URL, srv.URL + "/"}, Balance: 100, Requests: 300, Concurrency: 30, Amount: 1,
	}, quietProgress{})
	if err != nil {
		t.Fatal(err)
	}
	if !uuidV7.MatchString(s.Account) || s.Account == srv.id("ann") || s.Account == srv.id("bob") || s.Requests != 300 || s.Concurrency != 30 || s.Amount != 1 {
		t.Errorf("summary header = %+v", s)
	}
	if want := map[string]int{"200": 100, "422": 200}; !equalCounts(s.Statuses, want) {
		t.Errorf("statuses = %v, want %v", s.Statuses, want)
	}
	if s.Succeeded != 100 || s.Unknown != 0 || s.InitialBalance != 100 || s.ExpectedBalance != 0 || s.ActualBalance != 0 || s.Verdict != VerdictOK {
		t.Errorf("summary = %+v; want 100 succeeded, 100 → 0, OK", s)
	}
	l := s.LatencyMS
	if !(0 < l.P50 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) || s.RequestsPerSecond <= 0 || s.Seconds <= 0 {
		t.Errorf("timings = %+v, %.1f requests/s in %.3fs", l, s.RequestsPerSecond, s.Seconds)
	}
}

func TestRunLoadUsesAnExistingAccount(t *testing.T) {
	_, srv := newTestServer(t, Config{})
	s, err := RunLoad(context.Background(), LoadConfig{
		URLs: []string{srv.URL}, Account: srv.id("bob"), Requests: 20, Concurrency: 4, Amount: 5,
	}, quietProgress{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Account != srv.id("bob") || s.InitialBalance != 500 || s.Succeeded != 20 || s.ActualBalance != 400 || s.Verdict != VerdictOK {
		t.Fatalf("summary = %+v; want account 2, 500 → 400, OK", s)
	}
}

func TestPercentilesNearestRank(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[len(ds)-1-i] = time.Duration(i+1) * time.Millisecond // reversed: must sort
	}
	if got, want := percentiles(ds), (Latency{P50: 50, P95: 95, P99: 99, Max: 100}); got != want {
		t.Fatalf("percentiles = %+v, want %+v", got, want)
	}
	if got := percentiles([]time.Duration{1500 * time.Microsecond}); got != (Latency{1.5, 1.5, 1.5, 1.5}) {
		t.Fatalf("one sample: %+v", got)
	}
}

func TestJudge(t *testing.T) {
	for _, c := range []struct {
		name             string
		expected, actual int64
		unknown          int
		want             string
	}{
		{"exact", 0, 0, 0, VerdictOK},
		{"paid more than taken", -1000, 886, 0, VerdictLostMoney},
		{"taken more than paid", 10, 9, 0, VerdictLostMoney},
		{"negative", -1, -1, 0, VerdictLostMoney},
		{"unknown outcomes may have been applied", 10, 8, 2, VerdictOK},
		{"but no more than them", 10, 7, 2, VerdictLostMoney},
	} {
		s := Summary{Amount: 1, ExpectedBalance: c.expected, ActualBalance: c.actual, Unknown: c.unknown}
		if got := judge(s); got != c.want {
			t.Errorf("%s: judge(expected %d, actual %d, unknown %d) = %s, want %s", c.name, c.expected, c.actual, c.unknown, got, c.want)
		}
	}
}

// TestStressCommandJSON runs `bank stress -json` against the real bank and
// reads its output as a script would.
func TestStressCommandJSON(t *testing.T) {
	_, srv := newTestServer(t, Config{})
	var stdout, stderr bytes.Buffer
	code := stressMain([]string{"-url", srv.URL, "-n", "50", "-c", "5", "-balance", "20", "-json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d\n%s%s", code, stdout.String(), stderr.String())
	}
	var got map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	keys := []string{"urls", "account", "requests", "concurrency", "amount", "seconds", "requests_per_second",
		"latency_ms", "statuses", "succeeded", "unknown", "retried", "initial_balance", "expected_balance", "actual_balance", "verdict"}
	if len(got) != len(keys) {
		t.Errorf("JSON has %d fields, want %d: %s", len(got), len(keys), stdout.String())
	}
	for _, k := range keys {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	var s Summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"200": 20, "422": 30}; !equalCounts(s.Statuses, want) || s.Verdict != "OK" ||
		s.InitialBalance != 20 || s.ExpectedBalance != 0 || s.ActualBalance != 0 || s.Requests != 50 {
		t.Errorf("summary = %s", stdout.String())
	}
	// Not a terminal: plain progress lines on stderr, nothing else there.
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 10 || lines[0] != "progress: 10% (5/50)" || lines[9] != "progress: 100% (50/50)" {
		t.Errorf("stderr = %q, want ten progress lines", stderr.String())
	}
}

func TestStressCommandText(t *testing.T) {
	_, srv := newTestServer(t, Config{})
	var stdout, stderr bytes.Buffer
	if code := stressMain([]string{"-url", srv.URL, "-n", "30", "-c", "3", "-balance", "20", "-amount", "2"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d\n%s%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		" withdrawals of 2 cents from account ",
		" via " + srv.URL + ", 3 at a time\n",
		" requests/s\n",
		"  latency    p50 ",
		"  status 200 10\n",
		"  status 422 20\n",
		"  balance    20 at start, 20 paid out: expected 0, actual 0\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, "\nOK\n") {
		t.Errorf("summary does not end with the OK verdict:\n%s", out)
	}
}

// leakyBank answers every withdrawal 200 but never changes the balance: the
// lost update at its worst, for the verdict and the exit code.
func leakyBank(t *testing.T) *httptest.Server {
	var withdrawals atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accounts", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusCreated, Account{ID: "7", Owner: "stress", Balance: 10})
	})
	mux.HandleFunc("POST /accounts/7/withdraw", func(w http.ResponseWriter, _ *http.Request) {
		withdrawals.Add(1)
		writeJSON(w, http.StatusOK, WithdrawResult{Balance: 9})
	})
	mux.HandleFunc("GET /accounts/7", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, Account{ID: "7", Owner: "stress", Balance: 10})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		if n := withdrawals.Load(); n != 40 {
			t.Errorf("the leaky bank saw %d withdrawals, want 40", n)
		}
	})
	return srv
}

func TestStressCommandLostMoneyExitsNonZero(t *testing.T) {
	srv := leakyBank(t)
	var stdout, stderr bytes.Buffer
	if code := stressMain([]string{"-url", srv.URL, "-n", "20", "-c", "4", "-balance", "10"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d on lost money, want 1", code)
	}
	if out := stdout.String(); !strings.HasSuffix(out, "\nLOST MONEY\n") || !strings.Contains(out, "expected -10, actual 10") {
		t.Errorf("summary:\n%s", out)
	}
	stdout.Reset()
	if code := stressMain([]string{"-url", srv.URL, "-n", "20", "-c", "4", "-json"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d on lost money with -json, want 1", code)
	}
	var s Summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil || s.Verdict != "LOST MONEY" || s.Succeeded != 20 {
		t.Errorf("JSON summary %s (%v)", stdout.String(), err)
	}
}

func TestStressCommandFailures(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := stressMain([]string{"-n", "x"}, &stdout, &stderr); code != 2 {
		t.Errorf("bad flag: exit code %d, want 2", code)
	}
	// Usage errors exit 2 and name the flag.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", "0"}, "bank stress: -c must be at least 1, got 0"},
		{[]string{"-n", "0"}, "bank stress: -n must be at least 1, got 0"},
		{[]string{"-n", "-5"}, "bank stress: -n must be at least 1, got -5"},
		{[]string{"-amount", "0"}, "bank stress: -amount must be at least 1 cent, got 0"},
		{[]string{"-balance", "-1"}, "bank stress: -balance must not be negative, got -1"},
		{[]string{"-timeout", "-1s"}, "bank stress: -timeout must be positive, got -1s"},
		{[]string{"-timeout", "0s"}, "bank stress: -timeout must be positive, got 0s"},
		{[]string{"-retries", "-1"}, "bank stress: -retries must not be negative, got -1"},
		{[]string{"-url", " , "}, "bank stress: -url names no instance"},
		{[]string{"-account", "../healthz"}, `bank stress: -account "../healthz" is not an account id`},
		{[]string{"-account", "a/b"}, `bank stress: -account "a/b" is not an account id`},
		// A positional argument would silently drop the flags after it.
		{[]string{"-url", "http://127.0.0.1:1", "extra", "-n", "10"}, `bank stress: unexpected argument "extra"`},
	} {
		stderr.Reset()
		if code := stressMain(c.args, &stdout, &stderr); code != 2 || !strings.HasPrefix(stderr.String(), c.want) {
			t.Errorf("%v: exit code %d, stderr %q; want 2, %q", c.args, code, stderr.String(), c.want)
		}
	}
	// A port nothing listens on.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	stderr.Reset()
	if code := stressMain([]string{"-url", url, "-n", "5"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "stress: creating an account") {
		t.Errorf("unreachable bank: exit code %d, stderr %q", code, stderr.String())
	}
	_, bank := newTestServer(t, Config{})
	stderr.Reset()
	if code := stressMain([]string{"-url", bank.URL, "-account", "99", "-n", "5"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), fmt.Sprintf(`stress: reading account 99: GET %s/accounts/99: 404 Not Found: {"error":"account not found: 99"}`, bank.URL)) {
		t.Errorf("unknown account: exit code %d, stderr %q", code, stderr.String())
	}
}

// TestStressDoesNotFollowRedirects: an answer that redirects (here, a
// bank behind a proxy that moved) is reported, not followed to whatever
// the redirect names and read as an account.
func TestStressDoesNotFollowRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/healthz", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if code := stressMain([]string{"-url", srv.URL, "-account", "abc", "-n", "1"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "301 Moved Permanently") {
		t.Fatalf("redirect: exit code %d, stderr %q", code, stderr.String())
	}
}

// TestStressPrintsTransportErrorsReadably: the "error" status line keeps a
// space between the key and its count.
func TestStressPrintsTransportErrorsReadably(t *testing.T) {
	var out bytes.Buffer
	printSummary(&out, Summary{URLs: []string{"u"}, Statuses: map[string]int{"error": 6716, "200": 5}})
	if !strings.Contains(out.String(), "  status error 6716\n") || !strings.Contains(out.String(), "  status 200   5\n") {
		t.Fatalf("summary:\n%s", out.String())
	}
}

// flakyProxy forwards to the bank, but for every third withdrawal (first
// tries only) lets the bank apply it and then drops the connection without
// an answer, as an instance dying after its write would look to a client.
func flakyProxy(t *testing.T, bank string) (srv *httptest.Server, dropped, retries *atomic.Int64) {
	var n atomic.Int64
	dropped, retries = new(atomic.Int64), new(atomic.Int64)
	target, _ := url.Parse(bank)
	proxy := httputil.NewSingleHostReverseProxy(target)
	tried := sync.Map{}
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(idempotencyKeyHeader)
		_, retry := tried.LoadOrStore(key, true)
		if retry {
			retries.Add(1)
		}
		if !strings.HasSuffix(r.URL.Path, "/withdraw") || retry || n.Add(1)%3 != 0 {
			proxy.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r) // applied by the bank...
		dropped.Add(1)
		panic(http.ErrAbortHandler) // ...and the answer lost
	}))
	t.Cleanup(srv.Close)
	return srv, dropped, retries
}

// TestStressRetriesUnknownOutcomesUnderTheSameKey: a third of the
// withdrawals lose their answer after the bank applied them; bank stress
// retries each under its Idempotency-Key, gets the first answer, and the
// books balance exactly: nothing unknown, nothing applied twice. (Go's
// transport itself resends a request carrying an Idempotency-Key whose
// connection broke, so some retries never reach the summary's count: the
// proxy counts them all.)
func TestStressRetriesUnknownOutcomesUnderTheSameKey(t *testing.T) {
	_, bank := newTestServer(t, Config{})
	proxy, dropped, retries := flakyProxy(t, bank.URL)
	s, err := RunLoad(context.Background(), LoadConfig{
		URLs: []string{proxy.URL}, Account: bank.id("bob"), Requests: 90, Concurrency: 6, Amount: 1, Retries: 3,
	}, quietProgress{})
	if err != nil {
		t.Fatal(err)
	}
	if dropped.Load() != 30 || retries.Load() < 30 || s.Retried > 30 || s.Unknown != 0 || s.Succeeded != 90 {
		t.Fatalf("dropped %d, resent %d; summary: retried %d, unknown %d, succeeded %d; want 30, at least 30, at most 30, 0, 90",
			dropped.Load(), retries.Load(), s.Retried, s.Unknown, s.Succeeded)
	}
	if s.ActualBalance != 500-90 || s.ExpectedBalance != 500-90 || s.Verdict != VerdictOK {
		t.Fatalf("balance %d, expected %d, verdict %s; want 410 both, OK", s.ActualBalance, s.ExpectedBalance, s.Verdict)
	}
}

// countingBank answers every withdrawal 422 at once, for runs too long to
// make real.
func countingBank(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Account{ID: r.PathValue("id"), Owner: "x", Balance: 0})
	})
	mux.HandleFunc("POST /accounts/{id}/withdraw", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "insufficient funds"})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// cancelAfter cancels its context after n requests.
type cancelAfter struct {
	n      atomic.Int64
	limit  int64
	cancel context.CancelFunc
}

func (p *cancelAfter) Add() {
	if p.n.Add(1) == p.limit {
		p.cancel()
	}
}
func (p *cancelAfter) Finish() {}

// TestRunLoadMemoryDoesNotGrowWithN: a run asked for 200 million
// withdrawals (interrupted after 3,000) allocates a few megabytes, not
// gigabytes up front; and it stops when its context ends.
func TestRunLoadMemoryDoesNotGrowWithN(t *testing.T) {
	srv := countingBank(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := RunLoad(ctx, LoadConfig{URLs: []string{srv.URL}, Account: "a", Requests: 200_000_000, Concurrency: 8, Amount: 1},
		&cancelAfter{limit: 3000, cancel: cancel})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
		t.Fatalf("a run of 200M requests allocated %d MB for 3,000 of them", grew>>20)
	}
}

// TestTallyKeepsABoundedSample: past maxLatencySamples, latencies are
// sampled, the maximum is kept exactly, and every status is counted.
func TestTallyKeepsABoundedSample(t *testing.T) {
	ta := newTally()
	for i := range 3 * maxLatencySamples {
		ta.add(200+i%2, time.Duration(i), i%7 == 0)
	}
	if len(ta.latencies) != maxLatencySamples || ta.max != time.Duration(3*maxLatencySamples-1) ||
		ta.statuses[200]+ta.statuses[201] != 3*maxLatencySamples || ta.retried != (3*maxLatencySamples+6)/7 {
		t.Fatalf("tally: %d samples, max %s, statuses %v, retried %d", len(ta.latencies), ta.max, ta.statuses, ta.retried)
	}
}
