package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/lockdebug"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// debugLocks reads GET /debug/locks.
func debugLocks(t *testing.T, srv *testServer) lockdebug.Snapshot {
	t.Helper()
	status, header, body := call(t, srv, "GET", "/debug/locks", "")
	var s lockdebug.Snapshot
	if status != http.StatusOK || header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("GET /debug/locks: %d %q %s", status, header.Get("Content-Type"), body)
	}
	return s
}

// TestDebugLocksWhileWithdrawalHoldsLock, with the locks in memory and on
// Redis: while a withdrawal is held inside its handler (past its lock, at
// its write), /debug/locks lists its account's lock with this instance as
// the holder and the withdrawal's type; a second withdrawal of the same
// account is listed as its one waiter; ?key= asks the lock provider, which
// names the holder and token; once both are done nothing is listed.
func TestDebugLocksWhileWithdrawalHoldsLock(t *testing.T) {
	for _, kind := range []string{"memory", "redis"} {
		t.Run(kind, func(t *testing.T) {
			var cfg Config
			if kind == "redis" {
				cfg.LockRedisAddr = redistest.Start(t).Addr()
			}
			gate := newSaveGate(NewMemoryStore())
			app, err := newApp(cfg, gate)
			if err != nil {
				t.Fatal(err)
			}
			srv := serveApp(t, app, discardLog)
			key := srv.expand("account:$ann")

			gate.armed.Store(true)
			first := callAsync(t, srv, "POST", "/accounts/$ann/withdraw", `{"amount":100}`)
			<-gate.entered // the first withdrawal holds the lock now

			s := debugLocks(t, srv)
			if len(s.Held) != 1 || len(s.Waiting) != 0 {
				t.Fatalf("while held: %+v, want one lock held and no waiter", s)
			}
			l := s.Held[0]
			want := locking.Holder{Instance: locking.DefaultInstance(), MessageType: "main.WithdrawCommand", Since: l.Holder.Since}
			if l.Key != key || l.Prefix != "account" || l.Holder != want || l.Token == 0 || l.Lost || l.Age < 0 ||
				s.Instance != locking.DefaultInstance() || time.Since(l.Holder.Since) > time.Minute {
				t.Fatalf("held %+v (instance %q), want %s held by %+v", l, s.Instance, key, want)
			}

			second := callAsync(t, srv, "POST", "/accounts/$ann/withdraw", `{"amount":50}`)
			// The page offers no event to wait on: read it until the second
			// withdrawal is listed as waiting.
			deadline := time.Now().Add(10 * time.Second)
			for s = debugLocks(t, srv); len(s.Waiting) == 0; s = debugLocks(t, srv) {
				if time.Now().After(deadline) {
					t.Fatal("the second withdrawal was never listed as waiting")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if w := s.Waiting[0]; len(s.Waiting) != 1 || w.Key != key || w.Prefix != "account" || w.Waiters != 1 || w.MessageType != "main.WithdrawCommand" {
				t.Fatalf("waiting %+v, want one waiter for %s", s.Waiting, key)
			}

			status, _, body := call(t, srv, "GET", "/debug/locks?key="+key, "")
			var p locking.Provider
			if err := app.Mediator.Invoke(func(lp locking.Provider) { p = lp }); err != nil {
				t.Fatal(err)
			}
			if _, ok := p.(locking.Inspector); !ok {
				t.Fatalf("the lock provider %T is no locking.Inspector", p)
			}
			var info locking.LockInfo
			if status != http.StatusOK || json.Unmarshal([]byte(body), &info) != nil || !info.Held || info.Key != key || info.Token != l.Token ||
				info.Holder.MessageType != "main.WithdrawCommand" || info.Holder.Since.IsZero() || info.HeldFor <= 0 {
				t.Fatalf("?key=%s: %d %s, want it held with token %d by a main.WithdrawCommand, since a time", key, status, body, l.Token)
			}
			if status, _, body := call(t, srv, "GET", "/debug/locks?key=", ""); status != http.StatusBadRequest {
				t.Fatalf("?key= empty: %d %s", status, body)
			}

			close(gate.release)
			if a := <-first; a.status != http.StatusOK || a.body != `{"balance":900}` {
				t.Fatalf("first withdrawal: %d %s", a.status, a.body)
			}
			if a := <-second; a.status != http.StatusOK || a.body != `{"balance":850}` {
				t.Fatalf("second withdrawal: %d %s", a.status, a.body)
			}
			if s := debugLocks(t, srv); len(s.Held) != 0 || len(s.Waiting) != 0 {
				t.Fatalf("after both: %+v, want nothing", s)
			}
		})
	}
}
