package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
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
	if s.Account != "3" || s.Requests != 300 || s.Concurrency != 30 || s.Amount != 1 {
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
		URLs: []string{srv.URL}, Account: "2", Requests: 20, Concurrency: 4, Amount: 5,
	}, quietProgress{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Account != "2" || s.InitialBalance != 500 || s.Succeeded != 20 || s.ActualBalance != 400 || s.Verdict != VerdictOK {
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
		"latency_ms", "statuses", "succeeded", "unknown", "initial_balance", "expected_balance", "actual_balance", "verdict"}
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
		"30 withdrawals of 2 cents from account 3 via " + srv.URL + ", 3 at a time\n",
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
	if code := stressMain([]string{"-c", "0"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "positive -n, -c and -amount") {
		t.Errorf("-c 0: exit code %d, stderr %q", code, stderr.String())
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
