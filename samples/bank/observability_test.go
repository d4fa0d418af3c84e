package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// scopeLabels are the labels the exporter adds to name the instrumentation
// scope; the tests compare lines without them.
var scopeLabels = regexp.MustCompile(`otel_scope_[a-z_]+="[^"]*",?`)

// scrape returns the /metrics answer, one sample or comment per line, with
// the scope labels removed.
func scrape(t *testing.T, srv *testServer) map[string]bool {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines[strings.Replace(scopeLabels.ReplaceAllString(sc.Text(), ""), "{}", "", 1)] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestMetricsLockInstruments: after three withdrawals and one that found
// the account locked, GET /metrics shows the lock instruments in the
// Prometheus text format, by prefix and outcome, with exact counts.
func TestMetricsLockInstruments(t *testing.T) {
	app, srv := newTestServer(t, Config{LockTimeout: contentionLockTimeout})
	for range 3 {
		if status, _, got := call(t, srv, "POST", "/accounts/$ann/withdraw", `{"amount":10}`); status != http.StatusOK {
			t.Fatalf("withdraw: %d %s", status, got)
		}
	}
	release := holdLock(t, app, accountLockKey(srv.id("ann")))
	if status, _, got := call(t, srv, "POST", "/accounts/$ann/withdraw", `{"amount":10}`); status != http.StatusConflict {
		t.Fatalf("withdraw while locked: %d %s, want 409", status, got)
	}
	release()
	lines := scrape(t, srv)
	for _, want := range []string{
		`# TYPE turbomediator_lock_wait_duration_seconds histogram`,
		`# TYPE turbomediator_lock_hold_duration_seconds histogram`,
		`# TYPE turbomediator_lock_acquisitions_total counter`,
		`# TYPE turbomediator_lock_held gauge`,
		`# TYPE turbomediator_lock_lost_total counter`,
		`turbomediator_lock_acquisitions_total{turbomediator_lock_prefix="account",turbomediator_outcome="acquired"} 3`,
		`turbomediator_lock_acquisitions_total{turbomediator_lock_prefix="account",turbomediator_outcome="contended"} 1`,
		`turbomediator_lock_wait_duration_seconds_count{turbomediator_lock_prefix="account",turbomediator_outcome="acquired"} 3`,
		`turbomediator_lock_wait_duration_seconds_count{turbomediator_lock_prefix="account",turbomediator_outcome="contended"} 1`,
		`turbomediator_lock_wait_duration_seconds_bucket{turbomediator_lock_prefix="account",turbomediator_outcome="contended",le="0.25"} 0`,
		`turbomediator_lock_wait_duration_seconds_bucket{turbomediator_lock_prefix="account",turbomediator_outcome="contended",le="+Inf"} 1`,
		`turbomediator_lock_hold_duration_seconds_count{turbomediator_lock_prefix="account"} 3`,
		`turbomediator_lock_held{turbomediator_lock_prefix="account"} 0`,
		`turbomediator_lock_lost_total{turbomediator_lock_prefix="account"} 0`,
		`target_info{service_name="bank"} 1`,
	} {
		if !lines[want] {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		for l := range lines {
			if strings.Contains(l, "turbomediator") {
				t.Log(l)
			}
		}
	}
}

// exportedSpan is the part of a stdouttrace line the test reads.
type exportedSpan struct {
	Name       string
	Attributes []struct {
		Key   string
		Value struct{ Value any }
	}
	Events []struct{ Name string }
}

// TestTraceWritesSpans runs the server with -trace writing into a buffer:
// after a withdrawal and the shutdown (which flushes), the buffer holds the
// withdrawal's span with its outcome and lock events.
func TestTraceWritesSpans(t *testing.T) {
	var spans syncBuffer
	app, err := NewApp(Config{Telemetry: Telemetry{Trace: true, TraceOut: &spans}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(app.Describe(), "traces: stdout") {
		t.Errorf("Describe() = %q, want it to say traces go to stdout", app.Describe())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- run(ctx, app, ln, io.Discard, io.Discard) }()
	base := "http://" + ln.Addr().String()
	post := func(path, body string) string {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return string(data)
	}
	var acct Account
	if err := json.Unmarshal([]byte(post("/accounts", `{"owner":"ann","balance":1000}`)), &acct); err != nil || acct.ID == "" {
		t.Fatalf("creating an account: %v", err)
	}
	if got := post("/accounts/"+acct.ID+"/withdraw", `{"amount":100}`); got != "{\"balance\":900}\n" {
		t.Fatalf("withdraw: %q", got)
	}
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	var withdraw *exportedSpan
	names := []string{}
	for _, line := range strings.Split(strings.TrimSpace(spans.String()), "\n") {
		var s exportedSpan
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("a span line that is not JSON: %v\n%s", err, line)
		}
		names = append(names, s.Name)
		if s.Name == "main.WithdrawCommand" {
			withdraw = &s
		}
	}
	if withdraw == nil {
		t.Fatalf("no main.WithdrawCommand span among %v", names)
	}
	attrs := map[string]any{}
	for _, a := range withdraw.Attributes {
		attrs[a.Key] = a.Value.Value
	}
	if attrs["turbomediator.outcome"] != "ok" || attrs["turbomediator.operation"] != "send" || attrs["turbomediator.message.type"] != "main.WithdrawCommand" {
		t.Errorf("withdraw span attributes %v", attrs)
	}
	var events []string
	for _, e := range withdraw.Events {
		events = append(events, e.Name)
	}
	if strings.Join(events, ",") != "turbomediator.lock.acquired,turbomediator.lock.released" {
		t.Errorf("withdraw span events %v, want the lock acquired then released", events)
	}
}

// TestOTLPEndpointImpliesTrace: -otlp-endpoint alone turns tracing on,
// towards the collector; the app starts without reaching it.
func TestOTLPEndpointImpliesTrace(t *testing.T) {
	app, err := NewApp(Config{Telemetry: Telemetry{OTLPEndpoint: "127.0.0.1:4318"}})
	if err != nil {
		t.Fatal(err)
	}
	if d := app.Describe(); !strings.HasSuffix(d, ", traces: OTLP 127.0.0.1:4318") {
		t.Errorf("Describe() = %q, want it to name the OTLP collector", d)
	}
	if err := app.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
