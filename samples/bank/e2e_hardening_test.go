package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// TestE2EConnectionLimits: a bank limited to 256 open files, as in the
// issue, is sent 300 POSTs whose bodies never finish. /healthz still
// answers (the read timeout cuts the half-sent bodies, and the connection
// cap keeps accept from running out of descriptors); an idle keep-alive
// connection is closed after the idle timeout; oversized headers get 431.
func TestE2EConnectionLimits(t *testing.T) {
	const readTimeout = 2 * time.Second
	inst := startBankUnder(t, []string{"sh", "-c", `ulimit -n 256 && exec "$0" "$@"`},
		"-read-timeout", readTimeout.String(), "-idle-timeout", "1s")
	if !strings.Contains(inst.output(), "at most 192 connections") {
		t.Fatalf("with 256 descriptors the cap should be 192:\n%s", inst.output())
	}
	addr := strings.TrimPrefix(inst.base, "http://")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 300 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		// Headers and a third of the body; the rest never comes.
		if _, err := io.WriteString(c, "POST /accounts HTTP/1.1\r\nHost: bank\r\nContent-Length: 30\r\n\r\n{\"owner\":"); err != nil {
			t.Fatal(err)
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	resp, err := client.Get(inst.base + "/healthz")
	if err != nil {
		t.Fatalf("/healthz with 300 half-sent bodies held: %v\n%s", err, inst.output())
	}
	resp.Body.Close()
	t.Logf("/healthz answered %d after %s with 300 half-sent bodies held", resp.StatusCode, time.Since(start).Round(time.Millisecond))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	// Every half-sent body was cut: the server closed (or answered) each.
	for i, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(4 * readTimeout))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("half-sent connection %d not closed by the server: %v", i, err)
		}
	}
	if strings.Contains(inst.output(), "too many open files") {
		t.Fatalf("the server ran out of descriptors:\n%s", inst.output())
	}

	// An idle keep-alive connection is closed after -idle-timeout.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: bank\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	r, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: %v, want it closed by the server (EOF)", err)
	}

	// Headers over the limit.
	req, _ := http.NewRequest("GET", inst.base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("b", 2*defaultMaxHeaderBytes))
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: %d, want 431", resp.StatusCode)
	}
}

// withdrawWithKey posts a withdrawal with an Idempotency-Key; status 0 is
// no answer.
func withdrawWithKey(base, id, key string, amount int64) (int, string) {
	req, err := http.NewRequest("POST", base+"/accounts/"+id+"/withdraw", strings.NewReader(fmt.Sprintf(`{"amount":%d}`, amount)))
	if err != nil {
		return 0, err.Error()
	}
	if key != "" {
		req.Header.Set(idempotencyKeyHeader, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// TestE2ELockTTLRecoveryAfterKill9: with -lock-ttl 3s, instance a is
// killed (SIGKILL) while its withdrawal, with an Idempotency-Key, holds the
// account's lock. The client retries the same request on instance b until
// it has an answer: it gets 200 within 3s plus one lock timeout, the money
// moves once, and the account serves other requests again.
func TestE2ELockTTLRecoveryAfterKill9(t *testing.T) {
	const lockTTL, lockTimeout = 3 * time.Second, 5 * time.Second
	srv := redistest.Start(t)
	common := []string{"-redis", srv.Addr(), "-lock-ttl", lockTTL.String(), "-lock-timeout", lockTimeout.String()}
	a := startBank(t, append(common, "-work", "1h")...)
	b := startBank(t, common...)
	if !strings.Contains(a.output(), "lock lease: 3s") {
		t.Fatalf("the instance does not report its lease:\n%s", a.output())
	}
	acct := createAccount(t, b.base, "ann", 1000)

	inFlight := make(chan int, 1)
	go func() {
		status, _ := withdrawWithKey(a.base, acct.ID, "kill-9", 100)
		inFlight <- status
	}()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	waitLockHeld(t, rdb, acct.ID, a)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	killed := time.Now()
	if st := <-inFlight; st != 0 {
		t.Fatalf("the killed instance answered %d", st)
	}

	// The client's retry: 409 while a's claim and lock are alive, then 200.
	var status int
	var body string
	for {
		status, body = withdrawWithKey(b.base, acct.ID, "kill-9", 100)
		if status != http.StatusConflict || time.Since(killed) > 3*(lockTTL+lockTimeout) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the client's retry interval
	}
	recovered := time.Since(killed)
	t.Logf("the retry was answered %d %s %s after kill -9", status, body, recovered.Round(time.Millisecond))
	if status != http.StatusOK || body != `{"balance":900}` {
		t.Fatalf("retry on the other instance: %d %s; want 200 {\"balance\":900}", status, body)
	}
	if recovered > lockTTL+lockTimeout {
		t.Fatalf("the account was served again %s after kill -9, more than the 3s lease plus one %s lock timeout", recovered, lockTimeout)
	}
	if status, body := withdrawWithKey(b.base, acct.ID, "", 1); status != 200 || body != `{"balance":899}` {
		t.Fatalf("a new withdrawal: %d %s", status, body)
	}
}

// stopAfter calls stop once, after limit requests.
type stopAfter struct {
	limit int64
	count atomic.Int64
	stop  func()
}

func (p *stopAfter) Add() {
	if p.count.Add(1) == p.limit {
		go p.stop()
	}
}
func (p *stopAfter) Finish() {}

// TestE2EStressSurvivesKill9: bank stress over two instances, one killed
// with SIGKILL a quarter of the way through. The withdrawals it was
// handling are retried on the other under their Idempotency-Keys: every
// request ends with a known outcome and the books balance exactly.
func TestE2EStressSurvivesKill9(t *testing.T) {
	srv := redistest.Start(t)
	args := []string{"-redis", srv.Addr(), "-lock-ttl", "2s"}
	a, b := startBank(t, append(args, "-work", "2ms")...), startBank(t, append(args, "-work", "2ms")...)
	acct := createAccount(t, b.base, "ann", 100_000)
	s, err := RunLoad(context.Background(), LoadConfig{
		URLs: []string{a.base, b.base}, Account: acct.ID, Requests: 1200, Concurrency: 40, Amount: 1, Retries: 6,
	}, &stopAfter{limit: 300, stop: func() { _ = a.cmd.Process.Signal(syscall.SIGKILL) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kill -9 during stress: %v, retried %d, unknown %d, balance %d (expected %d), %s",
		s.Statuses, s.Retried, s.Unknown, s.ActualBalance, s.ExpectedBalance, s.Verdict)
	if s.Unknown != 0 || s.Succeeded != 1200 || s.ActualBalance != 100_000-1200 || s.Verdict != VerdictOK {
		t.Fatalf("after kill -9: %d unknown, %d succeeded, balance %d; want 0, 1200, %d, OK", s.Unknown, s.Succeeded, s.ActualBalance, 100_000-1200)
	}
	if s.Retried == 0 {
		t.Fatal("no request was retried: the kill came too late to test anything")
	}
}
