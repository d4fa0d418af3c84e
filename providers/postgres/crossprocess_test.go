package postgres_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
)

const (
	childProcesses  = 3
	childGoroutines = 8
	childIterations = 10
)

// TestProcessesExcludeEachOther runs this test binary as 3 processes × 8
// goroutines that read-modify-write one row under one lock. If two ever held
// the lock together, the "inside" count would exceed 1 (counted in
// overlaps), an update would be lost (the counter would fall short), or a
// token would not exceed the last one written (counted in stale).
func TestProcessesExcludeEachOther(t *testing.T) {
	if redistest.ChildRole() == "counter" {
		countUnderTheLock(t)
		return
	}
	if redistest.ChildRole() != "" {
		return
	}
	dsn := database(t)
	pool := newPool(t, dsn)
	ctx := ctxT(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE state (inside int NOT NULL, counter int NOT NULL,
		last_token bigint NOT NULL, overlapped int NOT NULL, stale int NOT NULL);
		INSERT INTO state VALUES (0, 0, 0, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	var children []*redistest.Child
	for range childProcesses {
		children = append(children, redistest.Spawn(t, "counter", "PG_DSN="+dsn))
	}
	for _, c := range children {
		if err := c.Wait(3 * time.Minute); err != nil {
			t.Fatalf("child %d: %v\n%s", c.Pid(), err, c.Output())
		}
	}
	var counter, overlaps, stale int
	if err := pool.QueryRow(ctx, "SELECT counter, overlapped, stale FROM state").Scan(&counter, &overlaps, &stale); err != nil {
		t.Fatal(err)
	}
	if want := childProcesses * childGoroutines * childIterations; counter != want {
		t.Errorf("counter = %d, want %d: updates were lost", counter, want)
	}
	if overlaps != 0 {
		t.Errorf("%d entries found another holder inside", overlaps)
	}
	if stale != 0 {
		t.Errorf("%d grants carried a token not above the last one", stale)
	}
}

// countUnderTheLock is the child's part of TestProcessesExcludeEachOther.
func countUnderTheLock(t *testing.T) {
	dsn := os.Getenv("PG_DSN")
	pool := newPool(t, dsn)
	p := newProvider(t, dsn, nil)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for range childGoroutines {
		wg.Go(func() {
			for range childIterations {
				h, err := p.TryAcquire(ctx, "counter", time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				var inside, counter int
				var last int64
				err = pool.QueryRow(ctx, "UPDATE state SET inside = inside + 1 RETURNING inside, counter, last_token").Scan(&inside, &counter, &last)
				if err == nil && inside != 1 {
					_, err = pool.Exec(ctx, "UPDATE state SET overlapped = overlapped + 1")
				}
				if err == nil && h.Token() <= uint64(last) {
					_, err = pool.Exec(ctx, "UPDATE state SET stale = stale + 1")
				}
				if err == nil {
					_, err = pool.Exec(ctx, "UPDATE state SET counter = $1, last_token = $2, inside = inside - 1", counter+1, int64(h.Token()))
				}
				if err != nil {
					t.Error(err)
				}
				if err := h.Release(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// TestAKilledHoldersLockPassesOn kills (SIGKILL) a child process while it
// holds a lock: its session ends with it, so this process gets the lock
// within its timeout (in practice at once), with a larger token.
func TestAKilledHoldersLockPassesOn(t *testing.T) {
	if redistest.ChildRole() == "holder" {
		holdUntilKilled(t)
		return
	}
	if redistest.ChildRole() != "" {
		return
	}
	noLeaks(t)
	dsn := database(t)
	ctx := ctxT(t)
	listener, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN held"); err != nil {
		t.Fatal(err)
	}
	child := redistest.Spawn(t, "holder", "PG_DSN="+dsn)
	n, err := listener.WaitForNotification(ctx)
	if err != nil {
		t.Fatalf("the child never held the lock: %v\n%s", err, child.Output())
	}
	childToken, _ := strconv.ParseUint(n.Payload, 10, 64)

	p := newProvider(t, dsn, nil)
	const timeout = 10 * time.Second
	child.Kill()
	killed := time.Now()
	h, err := p.TryAcquire(ctx, "victim", timeout)
	if err != nil {
		t.Fatalf("the dead holder's lock never came free: %v", err)
	}
	defer release(t, h)
	t.Logf("the lock passed on %s after the kill", time.Since(killed))
	if h.Token() <= childToken {
		t.Fatalf("token %d after the dead holder's %d", h.Token(), childToken)
	}
}

// holdUntilKilled is the child's part: take the lock, say so, wait for death.
func holdUntilKilled(t *testing.T) {
	dsn := os.Getenv("PG_DSN")
	p := newProvider(t, dsn, &postgres.Options{})
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "victim", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newPool(t, dsn).Exec(ctx, "SELECT pg_notify('held', $1)", strconv.FormatUint(h.Token(), 10)); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done() // only SIGKILL ends this
}
