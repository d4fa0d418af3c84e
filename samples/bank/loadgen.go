package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LoadConfig is what `bank stress` is asked to do.
type LoadConfig struct {
	// URLs are the base URLs of the instances; request i goes to
	// URLs[i % len(URLs)], so the load is spread evenly.
	URLs []string
	// Account is the account to withdraw from; empty creates one holding
	// Balance.
	Account string
	Balance int64
	// Requests is the number of withdrawals, Concurrency how many are in
	// flight at once, Amount the cents each takes.
	Requests    int
	Concurrency int
	Amount      int64
	// Timeout bounds each HTTP request.
	Timeout time.Duration
	// Retries is how many times a withdrawal whose outcome is unknown (no
	// answer, a 5xx) is sent again, to the next instance, under the same
	// Idempotency-Key; 0 means none.
	Retries int
}

// Verdicts of a load run.
const (
	VerdictOK        = "OK"
	VerdictLostMoney = "LOST MONEY"
)

// Summary is the outcome of a load run, printed as text or, with -json, as
// this JSON object.
type Summary struct {
	URLs              []string       `json:"urls"`
	Account           string         `json:"account"`
	Requests          int            `json:"requests"`
	Concurrency       int            `json:"concurrency"`
	Amount            int64          `json:"amount"`
	Seconds           float64        `json:"seconds"`
	RequestsPerSecond float64        `json:"requests_per_second"`
	LatencyMS         Latency        `json:"latency_ms"`
	Statuses          map[string]int `json:"statuses"`
	// Succeeded counts 200 answers; Unknown counts requests whose effect
	// cannot be known (no answer or a 5xx, after every retry); Retried
	// counts requests sent more than once under their Idempotency-Key.
	Succeeded       int    `json:"succeeded"`
	Unknown         int    `json:"unknown"`
	Retried         int    `json:"retried"`
	InitialBalance  int64  `json:"initial_balance"`
	ExpectedBalance int64  `json:"expected_balance"`
	ActualBalance   int64  `json:"actual_balance"`
	Verdict         string `json:"verdict"`
}

// Latency holds latency percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Progress is told of every finished request; a bar or plain lines.
type Progress interface {
	Add()
	Finish()
}

// transportError is the Statuses key of requests that got no HTTP answer.
const transportError = "error"

// maxLatencySamples bounds the latencies kept for the percentiles: up to
// that many requests every latency is kept; beyond, a uniform sample of
// that many (reservoir sampling), so memory does not grow with -n.
const maxLatencySamples = 100_000

// tally collects the outcome of every request in memory that does not grow
// with their number.
type tally struct {
	mu        sync.Mutex
	seen      int
	latencies []time.Duration
	max       time.Duration
	statuses  map[int]int // 0: no HTTP answer
	retried   int
	rand      *rand.Rand
}

func newTally() *tally {
	return &tally{statuses: map[int]int{}, rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

func (t *tally) add(status int, latency time.Duration, retried bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.statuses[status]++
	if retried {
		t.retried++
	}
	t.max = max(t.max, latency)
	t.seen++
	if len(t.latencies) < maxLatencySamples {
		t.latencies = append(t.latencies, latency)
	} else if i := t.rand.IntN(t.seen); i < maxLatencySamples {
		t.latencies[i] = latency
	}
}

// validAccountID tells whether id can be put in a URL path as it is: the
// ids the bank gives out are UUIDs, and anything with a '/' or a '.' could
// lead the load elsewhere (`../healthz`).
func validAccountID(id string) bool {
	if id == "" || len(id) > maxIDLength {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// RunLoad withdraws cfg.Amount cfg.Requests times from one account through
// the instances at cfg.URLs, then reads the balance back and judges it: the
// account must hold exactly its starting balance minus what the 200 answers
// paid out (give or take the requests whose outcome is unknown). Each
// withdrawal carries its own Idempotency-Key, so a retry of one whose
// outcome is unknown cannot apply it twice. Memory does not grow with
// cfg.Requests: the work is streamed to the workers and the outcomes
// counted as they come.
func RunLoad(ctx context.Context, cfg LoadConfig, progress Progress) (Summary, error) {
	if len(cfg.URLs) == 0 || cfg.Requests < 1 || cfg.Concurrency < 1 || cfg.Amount < 1 || cfg.Retries < 0 {
		return Summary{}, errors.New("stress: need at least one URL, positive -n, -c and -amount, and -retries not negative")
	}
	if cfg.Account != "" && !validAccountID(cfg.Account) {
		return Summary{}, fmt.Errorf("stress: account id %q: only letters, digits, '-' and '_', at most %d", cfg.Account, maxIDLength)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.Concurrency
	transport.MaxIdleConns = 2 * cfg.Concurrency
	client := &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		// A redirect is never part of the bank's answers: report it as it
		// is rather than follow it somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()

	acct, err := prepareAccount(ctx, client, cfg)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{
		URLs: cfg.URLs, Account: acct.ID, Requests: cfg.Requests, Concurrency: cfg.Concurrency,
		Amount: cfg.Amount, Statuses: map[string]int{}, InitialBalance: acct.Balance,
	}

	body := fmt.Appendf(nil, `{"amount":%d}`, cfg.Amount)
	run := rand.Uint64()
	results := newTally()
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(cfg.Concurrency, cfg.Requests) {
		wg.Go(func() {
			for i := range jobs {
				key := fmt.Sprintf("stress-%016x-%d", run, i)
				t0 := time.Now()
				status, attempts := postRetrying(ctx, client, cfg.URLs, i, "/accounts/"+acct.ID+"/withdraw", key, body, cfg.Retries)
				results.add(status, time.Since(t0), attempts > 1)
				progress.Add()
			}
		})
	}
feed:
	for i := range cfg.Requests {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	progress.Finish()
	if err := ctx.Err(); err != nil {
		return s, fmt.Errorf("stress: interrupted: %w", err)
	}

	s.Seconds = elapsed.Seconds()
	s.RequestsPerSecond = float64(cfg.Requests) / elapsed.Seconds()
	s.LatencyMS = percentiles(results.latencies)
	s.LatencyMS.Max = ms(results.max)
	s.Retried = results.retried
	for code, n := range results.statuses {
		switch {
		case code == 0:
			s.Statuses[transportError] += n
			s.Unknown += n
			continue
		case code == http.StatusOK:
			s.Succeeded += n
		case code >= 500:
			s.Unknown += n
		}
		s.Statuses[strconv.Itoa(code)] += n
	}

	// From the first instance that answers: one may have died meanwhile.
	var final Account
	for _, base := range cfg.URLs {
		if final, err = getAccount(ctx, client, base, acct.ID); err == nil {
			break
		}
	}
	if err != nil {
		return s, fmt.Errorf("stress: reading the final balance: %w", err)
	}
	s.ActualBalance = final.Balance
	s.ExpectedBalance = s.InitialBalance - int64(s.Succeeded)*cfg.Amount
	s.Verdict = judge(s)
	return s, nil
}

// postRetrying sends one POST with its Idempotency-Key to urls[i % n]
// and, while its outcome is unknown, up to retries more times to the next
// instances, pausing retryBackoff between tries. It returns the last status
// (0: no answer) and the number of tries.
func postRetrying(ctx context.Context, client *http.Client, urls []string, i int, path, key string, body []byte, retries int) (status, attempts int) {
	for {
		base := urls[(i+attempts)%len(urls)]
		status = post(ctx, client, strings.TrimRight(base, "/")+path, key, body)
		attempts++
		if !retryable(status, attempts) || attempts > retries || !pause(ctx, retryBackoff(attempts)) {
			return status, attempts
		}
	}
}

// retryBackoff is the pause before the retry that follows attempts tries:
// 250ms doubling up to 4s, enough together to outlast a lock lease of a few
// seconds left by an instance that died.
func retryBackoff(attempts int) time.Duration {
	return min(250*time.Millisecond<<(attempts-1), 4*time.Second)
}

// pause waits d, or less if ctx ends first; it reports whether it waited d.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryable tells whether a withdrawal that answered status after attempts
// tries is sent again: no answer or a 5xx leave its outcome unknown; and a
// 409 after a retry may be the first try still in flight (or a lock still
// held by an instance that died), which the key makes safe to wait out.
func retryable(status, attempts int) bool {
	return status == 0 || status >= 500 || (attempts > 1 && status == http.StatusConflict)
}

// judge says whether the books balance: the final balance must not be
// negative and must equal the expected one, less at most the withdrawals
// whose outcome is unknown.
func judge(s Summary) string {
	lowest := s.ExpectedBalance - int64(s.Unknown)*s.Amount
	if s.ActualBalance < 0 || s.ActualBalance > s.ExpectedBalance || s.ActualBalance < lowest {
		return VerdictLostMoney
	}
	return VerdictOK
}

func prepareAccount(ctx context.Context, client *http.Client, cfg LoadConfig) (Account, error) {
	if cfg.Account != "" {
		a, err := getAccount(ctx, client, cfg.URLs[0], cfg.Account)
		if err != nil {
			return Account{}, fmt.Errorf("stress: reading account %s: %w", cfg.Account, err)
		}
		return a, nil
	}
	body := fmt.Appendf(nil, `{"owner":"stress","balance":%d}`, cfg.Balance)
	var a Account
	if err := doJSON(ctx, client, http.MethodPost, strings.TrimRight(cfg.URLs[0], "/")+"/accounts", body, http.StatusCreated, &a); err != nil {
		return Account{}, fmt.Errorf("stress: creating an account: %w", err)
	}
	return a, nil
}

func getAccount(ctx context.Context, client *http.Client, base, id string) (Account, error) {
	var a Account
	err := doJSON(ctx, client, http.MethodGet, strings.TrimRight(base, "/")+"/accounts/"+url.PathEscape(id), nil, http.StatusOK, &a)
	return a, err
}

// doJSON makes one request and decodes the answer, which must have status want.
func doJSON(ctx context.Context, client *http.Client, method, url string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, out)
}

// post sends one withdrawal (with its Idempotency-Key, unless key is "")
// and returns its status, or 0 when no answer came.
func post(ctx context.Context, client *http.Client, url, key string, body []byte) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(idempotencyKeyHeader, key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	// Drain so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// percentiles uses the nearest-rank method.
func percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(sorted)))) - 1
		return ms(sorted[max(i, 0)])
	}
	return Latency{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: ms(sorted[len(sorted)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000 }
