package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// gateStore holds the first Load of account id after arm until release is
// closed, so a test knows a request is inside the mediator.
type gateStore struct {
	Store
	id      string
	armed   atomic.Bool
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g *gateStore) Load(ctx context.Context, key string, ids ...string) ([]Account, *Applied, error) {
	if g.armed.Load() && len(ids) > 0 && ids[0] == g.id {
		g.once.Do(func() {
			close(g.entered)
			<-g.release
		})
	}
	return g.Store.Load(ctx, key, ids...)
}

// TestGracefulShutdownFinishesInFlightRequests: once shutdown begins, new
// connections are refused, but a withdrawal already in its handler runs to
// the end and gets its 200 before run returns.
func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	store := &gateStore{Store: NewMemoryStore(), entered: make(chan struct{}), release: make(chan struct{})}
	ann, err := store.Create(context.Background(), "ann", 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	store.id = ann.ID
	app, err := newApp(Config{}, store)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	ran := make(chan error, 1)
	go func() {
		ran <- run(ctx, app, ln, stdoutW, io.Discard)
		stdoutW.Close()
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdoutR)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waitLine := func(prefix string) {
		t.Helper()
		for line := range lines {
			if strings.HasPrefix(line, prefix) {
				return
			}
		}
		t.Fatalf("output ended without a line starting %q", prefix)
	}
	waitLine("bank: listening on http://127.0.0.1:")
	base := "http://" + ln.Addr().String()

	store.armed.Store(true)
	type answer struct {
		status int
		body   string
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.Post(base+"/accounts/"+ann.ID+"/withdraw", "application/json", strings.NewReader(`{"amount":100}`))
		if err != nil {
			answered <- answer{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, string(bytes.TrimSpace(body))}
	}()
	<-store.entered
	cancel()
	waitLine("bank: shutting down")
	// Polling: the listener closes inside http.Server.Shutdown.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections still accepted 5s into shutdown")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-ran:
		t.Fatalf("run returned (%v) with a request in flight", err)
	default:
	}
	close(store.release)
	if a := <-answered; a.status != http.StatusOK || a.body != `{"balance":900}` {
		t.Fatalf("in-flight withdrawal: %d %s; want 200 {\"balance\":900}", a.status, a.body)
	}
	if err := <-ran; err != nil {
		t.Fatalf("run: %v", err)
	}
	waitLine("bank: stopped")
	for range lines { // drain, so the reader goroutine ends
	}
}

func TestServeFailsFast(t *testing.T) {
	var out bytes.Buffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := serve(context.Background(), Config{}, ln.Addr().String(), &out, &out); err == nil || !strings.Contains(err.Error(), "listen: ") {
		t.Errorf("serve on a taken port: %v", err)
	}
	srv := redistest.Start(t)
	addr := srv.Addr()
	srv.Stop()
	if err := serve(context.Background(), Config{RedisAddr: addr}, "127.0.0.1:0", &out, &out); err == nil {
		t.Errorf("serve with Redis down started")
	}
}

func TestServerFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := serverMain([]string{"-work", "soon"}, &stdout, &stderr); code != 2 {
		t.Errorf("bad -work: exit code %d, want 2", code)
	}
	if code := serverMain([]string{"strss"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unexpected argument "strss"`) {
		t.Errorf("stray argument: exit code %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := serverMain([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("-h: exit code %d, stderr %q", code, stderr.String())
	}
	for _, flag := range []string{"-no-lock", "-lock-ttl", "-idempotency-ttl", "-read-timeout", "-write-timeout", "-idle-timeout", "-max-header-bytes", "-max-conns"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("-h does not list %s", flag)
		}
	}
	for _, c := range []struct{ args []string }{
		{[]string{"-lock-ttl", "-1s"}}, {[]string{"-read-timeout", "-2s"}}, {[]string{"-max-conns", "-1"}},
	} {
		stderr.Reset()
		if code := serverMain(c.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.args[0]) {
			t.Errorf("%v: exit code %d, stderr %q; want 2 naming %s", c.args, code, stderr.String(), c.args[0])
		}
	}
}

func TestLimitsDefaults(t *testing.T) {
	l := Limits{}.withDefaults(0)
	if l.ReadTimeout != 10*time.Second || l.WriteTimeout != time.Minute || l.IdleTimeout != time.Minute || l.MaxHeaderBytes != 16<<10 || l.MaxConns != 1024 {
		t.Errorf("defaults = %+v", l)
	}
	if got := (Limits{}).withDefaults(256).MaxConns; got != 192 {
		t.Errorf("MaxConns with 256 descriptors = %d, want 192", got)
	}
	if got := (Limits{MaxConns: 10}).withDefaults(256).MaxConns; got != 10 {
		t.Errorf("MaxConns 10 with 256 descriptors = %d, want 10", got)
	}
}

// TestLimitListenerCapsConnections: with a cap of 2, a third connection is
// accepted only once one of the first two closes.
func TestLimitListenerCapsConnections(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(raw, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted with a cap of 2")
	case <-time.After(100 * time.Millisecond): // absence of an event: a bounded wait is the only check
	}
	first.Close()
	first.Close() // a second Close gives back nothing more
	select {
	case third := <-accepted:
		third.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the third connection was not accepted after one closed")
	}
	second.Close()
}
