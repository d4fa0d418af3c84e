package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// instance is one bank process started from the binary TestMain built.
type instance struct {
	base string
	cmd  *exec.Cmd

	mu  sync.Mutex
	out bytes.Buffer // stdout and stderr

	exited  chan struct{} // closed once the process has exited and its output is read
	waitErr error         // set before exited closes
}

var listeningLine = regexp.MustCompile(`^bank: listening on (\S+)`)

// startBank runs the bank with args on a free loopback port and waits until
// it says where it listens; the test's cleanup stops it with SIGTERM.
func startBank(t *testing.T, args ...string) *instance {
	t.Helper()
	return startBankUnder(t, nil, args...)
}

// startBankUnder is startBank with the binary run by wrapper (a shell that
// sets a limit first, say): wrapper's words come before the binary's path.
func startBankUnder(t *testing.T, wrapper []string, args ...string) *instance {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	inst := &instance{exited: make(chan struct{})}
	argv := append(append(append([]string{}, wrapper...), bankBinary, "-addr", "127.0.0.1:0"), args...)
	inst.cmd = exec.Command(argv[0], argv[1:]...)
	stdout, err := inst.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	inst.cmd.Stderr = writerFunc(inst.write)
	if err := inst.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			inst.write(append(sc.Bytes(), '\n'))
			if m := listeningLine.FindSubmatch(sc.Bytes()); m != nil {
				select {
				case ready <- string(m[1]):
				default: // only the first such line matters
				}
			}
		}
		io.Copy(io.Discard, stdout)
		inst.waitErr = inst.cmd.Wait()
		close(inst.exited)
	}()
	t.Cleanup(func() { inst.stop(t) })
	select {
	case inst.base = <-ready:
		return inst
	case <-inst.exited:
		t.Fatalf("bank %v exited before listening: %v\n%s", args, inst.waitErr, inst.output())
	case <-time.After(15 * time.Second):
		t.Fatalf("bank %v did not start within 15s\n%s", args, inst.output())
	}
	return nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (inst *instance) write(p []byte) (int, error) {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return inst.out.Write(p)
}

func (inst *instance) output() string {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return inst.out.String()
}

// stop sends SIGTERM and waits for a clean exit; a process that lingers is
// killed and the test fails.
func (inst *instance) stop(t *testing.T) {
	select {
	case <-inst.exited:
		return
	default:
	}
	_ = inst.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-inst.exited:
		if inst.waitErr != nil {
			t.Errorf("bank at %s exited with %v\n%s", inst.base, inst.waitErr, inst.output())
		}
	case <-time.After(20 * time.Second):
		_ = inst.cmd.Process.Kill()
		<-inst.exited
		t.Errorf("bank at %s ignored SIGTERM for 20s\n%s", inst.base, inst.output())
	}
}

// httpJSON makes one request and decodes the JSON answer into out.
func httpJSON(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

func createAccount(t *testing.T, base, owner string, balance int64) Account {
	t.Helper()
	var a Account
	if status := httpJSON(t, "POST", base+"/accounts", fmt.Sprintf(`{"owner":%q,"balance":%d}`, owner, balance), &a); status != http.StatusCreated {
		t.Fatalf("creating %s's account: %d", owner, status)
	}
	return a
}

func balanceOf(t *testing.T, base, id string) int64 {
	t.Helper()
	var a Account
	if status := httpJSON(t, "GET", base+"/accounts/"+id, "", &a); status != http.StatusOK {
		t.Fatalf("GET account %s: %d", id, status)
	}
	return a.Balance
}

type quietProgress struct{}

func (quietProgress) Add()    {}
func (quietProgress) Finish() {}

// watchBalance reads the balance from base over and over until stop is
// called, which returns the lowest balance seen.
func watchBalance(base, id string) (stop func() (lowest int64, reads int)) {
	done := make(chan struct{})
	result := make(chan [2]int64, 1)
	go func() {
		lowest, reads := int64(1<<62), int64(0)
		url := base + "/accounts/" + id
		// A read every few milliseconds: a few hundred samples per run,
		// without a busy loop taking the CPU from the servers under test.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				result <- [2]int64{lowest, reads}
				return
			case <-tick.C:
			}
			resp, err := http.Get(url)
			if err != nil {
				continue
			}
			var a Account
			if json.NewDecoder(resp.Body).Decode(&a) == nil && resp.StatusCode == http.StatusOK {
				lowest = min(lowest, a.Balance)
				reads++
			}
			resp.Body.Close()
		}
	}()
	return func() (int64, int) {
		close(done)
		r := <-result
		return r[0], int(r[1])
	}
}

// patientLockTimeout is the lock wait of the end-to-end tests whose
// property is not about time: 2,000 requests queued on one account's lock
// take a few seconds on an idle machine and several times that on a busy
// one, which the commands' 10s does not always cover. It stays below the
// server's 60s write timeout.
const patientLockTimeout = "45s"

// loadRetries is how often the end-to-end load runs resend a withdrawal
// whose outcome is unknown (a connection lost on a loaded machine): under
// its Idempotency-Key, so the counts stay exact.
const loadRetries = 6

// twoInstances starts a redis-server and two banks sharing it.
func twoInstances(t *testing.T, args ...string) (a, b *instance) {
	srv := redistest.Start(t)
	args = append([]string{"-redis", srv.Addr()}, args...)
	return startBank(t, args...), startBank(t, args...)
}

// TestE2ETwoInstancesNeverLoseMoney: 2,000 concurrent 1-cent withdrawals,
// half through each of two processes sharing one Redis, against 1,000 cents:
// exactly 1,000 are paid, the balance ends at 0 and is never seen below it.
func TestE2ETwoInstancesNeverLoseMoney(t *testing.T) {
	a, b := twoInstances(t, "-lock-timeout", patientLockTimeout)
	acct := createAccount(t, a.base, "ann", 1000)
	stop := watchBalance(b.base, acct.ID)
	s, err := RunLoad(context.Background(), LoadConfig{
		URLs: []string{a.base, b.base}, Account: acct.ID, Requests: 2000, Concurrency: 2000, Amount: 1, Retries: loadRetries,
	}, quietProgress{})
	lowest, reads := stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("locked, 2 instances: %.0f requests/s, p50 %.1fms, p99 %.1fms, %v; %d balance reads meanwhile, lowest %d",
		s.RequestsPerSecond, s.LatencyMS.P50, s.LatencyMS.P99, s.Statuses, reads, lowest)
	if want := map[string]int{"200": 1000, "422": 1000}; !equalCounts(s.Statuses, want) {
		t.Errorf("statuses = %v, want %v", s.Statuses, want)
	}
	if s.ActualBalance != 0 || s.Verdict != VerdictOK {
		t.Errorf("final balance %d, verdict %s; want 0, OK", s.ActualBalance, s.Verdict)
	}
	if lowest < 0 {
		t.Errorf("the balance was seen at %d", lowest)
	}
	if got := balanceOf(t, a.base, acct.ID); got != 0 {
		t.Errorf("instance a reads %d, want 0", got)
	}
}

// TestE2ERedlockTwoInstancesNeverLoseMoney: the same contention with the
// account locks on a majority of three independent Redis masters
// (-lock-redis redlock://...) and the accounts on a fourth: exactly the
// balance is paid out, never below zero.
func TestE2ERedlockTwoInstancesNeverLoseMoney(t *testing.T) {
	store := redistest.Start(t)
	var nodes []string
	for range 3 {
		nodes = append(nodes, redistest.Start(t).Addr())
	}
	args := []string{"-redis", store.Addr(), "-lock-redis", "redlock://" + strings.Join(nodes, ","), "-lock-timeout", patientLockTimeout}
	a, b := startBank(t, args...), startBank(t, args...)
	acct := createAccount(t, a.base, "ann", 300)
	stop := watchBalance(b.base, acct.ID)
	s, err := RunLoad(context.Background(), LoadConfig{
		URLs: []string{a.base, b.base}, Account: acct.ID, Requests: 600, Concurrency: 600, Amount: 1, Retries: loadRetries,
	}, quietProgress{})
	lowest, reads := stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Redlock, 2 instances: %.0f requests/s, p50 %.1fms, p99 %.1fms, %v; %d balance reads meanwhile, lowest %d",
		s.RequestsPerSecond, s.LatencyMS.P50, s.LatencyMS.P99, s.Statuses, reads, lowest)
	// On a machine loaded past what Redlock's per-node timeout tolerates
	// (1s), nodes count as down and some requests still get 503 after their
	// retries: the money must balance all the same. Without such failures
	// the counts are exact.
	failed := s.Statuses["503"] + s.Statuses["409"] + s.Statuses[transportError]
	for st := range s.Statuses {
		if st != "200" && st != "422" && st != "503" && st != "409" && st != transportError {
			t.Errorf("%d requests answered %s", s.Statuses[st], st)
		}
	}
	if want := map[string]int{"200": 300, "422": 300}; failed == 0 && !equalCounts(s.Statuses, want) {
		t.Errorf("statuses = %v, want %v", s.Statuses, want)
	}
	if s.Succeeded > 300 || s.Verdict != VerdictOK || (failed == 0 && s.ActualBalance != 0) {
		t.Errorf("%d paid, final balance %d, verdict %s; want at most 300 paid, the books exact (0 left when nothing failed), OK", s.Succeeded, s.ActualBalance, s.Verdict)
	}
	if lowest < 0 || s.ActualBalance < 0 {
		t.Errorf("the balance was seen at %d, ends at %d", lowest, s.ActualBalance)
	}
	if !strings.Contains(a.output(), "locks: redis redlock://") {
		t.Errorf("the instance does not say its locks are on Redlock:\n%s", a.output())
	}
}

// TestE2ENoLockLosesMoney is the control: the same run against two
// instances with -no-lock must lose updates, or the test above proves
// nothing.
func TestE2ENoLockLosesMoney(t *testing.T) {
	a, b := twoInstances(t, "-no-lock", "-work", "1ms")
	acct := createAccount(t, a.base, "ann", 1000)
	s, err := RunLoad(context.Background(), LoadConfig{
		URLs: []string{a.base, b.base}, Account: acct.ID, Requests: 2000, Concurrency: 2000, Amount: 1,
	}, quietProgress{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("-no-lock, 2 instances: %.0f requests/s, %v, %d paid out, balance %d (expected %d)",
		s.RequestsPerSecond, s.Statuses, s.Succeeded, s.ActualBalance, s.ExpectedBalance)
	if s.Verdict != VerdictLostMoney || s.ActualBalance == s.ExpectedBalance {
		t.Fatalf("without locks: verdict %s, balance %d, expected %d; the run was meant to lose updates", s.Verdict, s.ActualBalance, s.ExpectedBalance)
	}
	if s.Succeeded <= 1000 {
		t.Errorf("without locks only %d withdrawals of 1 cent were paid from 1000 cents; overlapping reads should pay out more", s.Succeeded)
	}
}

func equalCounts(got, want map[string]int) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestE2ETransfersBothWaysConserveMoney sends transfers X→Y and Y→X at
// once through both instances, with withdrawals from X mixed in (a transfer
// and a withdrawal on X share X's lock): every request is answered 200 or
// 422 before the deadline (no deadlock, no lock timeout), and each balance
// is exactly its start plus what the 200 answers moved.
func TestE2ETransfersBothWaysConserveMoney(t *testing.T) {
	a, b := twoInstances(t, "-lock-timeout", patientLockTimeout)
	// Small balances, so that some transfers and withdrawals are refused.
	x := createAccount(t, a.base, "xena", 100)
	y := createAccount(t, b.base, "yves", 100)
	bases := []string{a.base, b.base}

	type op struct {
		path, body string
		dx, dy     int64 // what a 200 does to X and Y
	}
	var ops []op
	for i := range 1500 {
		amt := int64(1 + i%7)
		if i%2 == 0 {
			ops = append(ops, op{"/transfers", fmt.Sprintf(`{"from":%q,"to":%q,"amount":%d}`, x.ID, y.ID, amt), -amt, amt})
		} else {
			ops = append(ops, op{"/transfers", fmt.Sprintf(`{"from":%q,"to":%q,"amount":%d}`, y.ID, x.ID, amt), amt, -amt})
		}
		if i%5 == 0 {
			ops = append(ops, op{"/accounts/" + x.ID + "/withdraw", `{"amount":1}`, -1, 0})
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 300}}
	defer client.CloseIdleConnections()
	statuses := make([]int, len(ops))
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range 300 {
		wg.Go(func() {
			for i := range jobs {
				statuses[i], _ = postRetrying(ctx, client, bases, i, ops[i].path, fmt.Sprintf("op-%d", i), []byte(ops[i].body), loadRetries)
			}
		})
	}
	for i := range ops {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)

	wantX, wantY := int64(100), int64(100)
	counts := map[int]int{}
	for i, st := range statuses {
		counts[st]++
		if st == http.StatusOK {
			wantX += ops[i].dx
			wantY += ops[i].dy
		}
	}
	t.Logf("%d transfers and withdrawals across 2 instances in %s (%.0f/s): %v", len(ops), elapsed.Round(time.Millisecond), float64(len(ops))/elapsed.Seconds(), counts)
	for st, n := range counts {
		if st != http.StatusOK && st != http.StatusUnprocessableEntity {
			t.Errorf("%d requests answered %d (0: no answer); want only 200 and 422", n, st)
		}
	}
	gotX, gotY := balanceOf(t, a.base, x.ID), balanceOf(t, b.base, y.ID)
	if gotX != wantX || gotY != wantY {
		t.Errorf("balances X=%d Y=%d, want X=%d Y=%d from the answers", gotX, gotY, wantX, wantY)
	}
	if gotX < 0 || gotY < 0 {
		t.Errorf("a balance went negative: X=%d Y=%d", gotX, gotY)
	}
	withdrawn := int64(0)
	for i, st := range statuses {
		if st == http.StatusOK && ops[i].dy == 0 {
			withdrawn++
		}
	}
	if gotX+gotY != 200-withdrawn {
		t.Errorf("X+Y = %d, want 200 - %d withdrawn = %d", gotX+gotY, withdrawn, 200-withdrawn)
	}
}

// TestE2EShutdownFinishesInFlightAndReleasesLocks: SIGTERM while a withdrawal
// holds its account's lock in Redis. The withdrawal still answers 200, the
// process exits 0, and the lock is released at once: the other instance
// gets it without waiting out the lease.
func TestE2EShutdownFinishesInFlightAndReleasesLocks(t *testing.T) {
	srv := redistest.Start(t)
	a := startBank(t, "-redis", srv.Addr(), "-work", "1s")
	b := startBank(t, "-redis", srv.Addr())
	acct := createAccount(t, b.base, "ann", 1000)

	answered := make(chan int, 1)
	go func() {
		resp, err := http.Post(a.base+"/accounts/"+acct.ID+"/withdraw", "application/json", strings.NewReader(`{"amount":100}`))
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()

	// In flight once the lock exists in Redis.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	waitLockHeld(t, rdb, acct.ID, a)
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	if st := <-answered; st != http.StatusOK {
		t.Fatalf("in-flight withdrawal answered %d during shutdown, want 200\n%s", st, a.output())
	}
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("bank did not exit after SIGTERM\n%s", a.output())
	}
	if a.waitErr != nil || !strings.Contains(a.output(), "bank: stopped") {
		t.Fatalf("bank exited with %v\n%s", a.waitErr, a.output())
	}
	if lockHeldInRedis(t, rdb, acct.ID) {
		t.Fatalf("the lock of account %s outlived the instance that held it", acct.ID)
	}
	start := time.Now()
	var res WithdrawResult
	if st := httpJSON(t, "POST", b.base+"/accounts/"+acct.ID+"/withdraw", `{"amount":1}`, &res); st != http.StatusOK || res.Balance != 899 {
		t.Fatalf("withdrawal on the other instance: %d, balance %d; want 200, 899", st, res.Balance)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("the other instance waited %s for the lock", waited)
	}
}

// lockHeldInRedis tells whether the account's lock is held by anyone.
func lockHeldInRedis(t *testing.T, rdb *redis.Client, id string) bool {
	t.Helper()
	return len(lockKeysInRedis(t, rdb, id)) > 0
}

// lockKeysInRedis returns the Redis keys naming the account's lock, other
// than the provider's fencing counter and the bank's own account data.
func lockKeysInRedis(t *testing.T, rdb *redis.Client, id string) []string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), "*"+accountLockKey(id)+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, k := range keys {
		if !strings.HasSuffix(k, ":fence") && !strings.HasPrefix(k, "bank:") {
			held = append(held, k)
		}
	}
	return held
}

// waitLockHeld polls Redis until the account's lock is held (polling is the
// only way to see into another process).
func waitLockHeld(t *testing.T, rdb *redis.Client, id string, inst *instance) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if keys := lockKeysInRedis(t, rdb, id); len(keys) > 0 {
			return keys
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request took account %s's lock within 10s\n%s", id, inst.output())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestE2EStaleHolderWriteIsRefused: instance a holds account 1's lock and
// is slow; its lock vanishes (as when a lease runs out during a long GC
// pause); instance b takes the lock, with a larger fencing token, and
// withdraws. When a finally writes, the store refuses its stale token: a
// answers 409 and b's withdrawal is the only one in the balance. Without
// the fence, a's write would overwrite b's and one withdrawal would be lost.
func TestE2EStaleHolderWriteIsRefused(t *testing.T) {
	srv := redistest.Start(t)
	a := startBank(t, "-redis", srv.Addr(), "-work", "1s")
	b := startBank(t, "-redis", srv.Addr())
	acct := createAccount(t, b.base, "ann", 1000)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()

	type answer struct {
		status int
		body   string
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.Post(a.base+"/accounts/"+acct.ID+"/withdraw", "application/json", strings.NewReader(`{"amount":100}`))
		if err != nil {
			answered <- answer{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, strings.TrimSpace(string(body))}
	}()
	keys := waitLockHeld(t, rdb, acct.ID, a)
	if err := rdb.Del(context.Background(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
	var res WithdrawResult
	if st := httpJSON(t, "POST", b.base+"/accounts/"+acct.ID+"/withdraw", `{"amount":1}`, &res); st != http.StatusOK || res.Balance != 999 {
		t.Fatalf("b's withdrawal: %d, balance %d; want 200, 999", st, res.Balance)
	}
	got := <-answered
	if want := `{"error":"account changed under a lost lock, retry later"}`; got.status != http.StatusConflict || got.body != want {
		t.Fatalf("a's stale withdrawal: %d %s; want 409 %s", got.status, got.body, want)
	}
	if bal := balanceOf(t, a.base, acct.ID); bal != 999 {
		t.Fatalf("balance %d, want 999: the stale write of 900 must not land", bal)
	}
}
