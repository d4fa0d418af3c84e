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

// gateStore holds the first Get of account id after arm until release is
// closed, so a test knows a request is inside its handler.
type gateStore struct {
	Store
	id      string
	armed   atomic.Bool
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g *gateStore) Get(ctx context.Context, id string) (Account, error) {
	if g.armed.Load() && id == g.id {
		g.once.Do(func() {
			close(g.entered)
			<-g.release
		})
	}
	return g.Store.Get(ctx, id)
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
	if code := serverMain([]string{"-h"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "-no-lock") {
		t.Errorf("-h: exit code %d, stderr %q", code, stderr.String())
	}
}
