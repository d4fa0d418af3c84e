package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
)

// inspect asks p about key or fails the test.
func inspect(t *testing.T, p *postgres.Provider, key string) locking.LockInfo {
	t.Helper()
	info, err := p.Inspect(ctxT(t), key)
	if err != nil {
		t.Fatalf("Inspect(%q): %v", key, err)
	}
	if info.Key != key {
		t.Fatalf("Inspect(%q).Key = %q", key, info.Key)
	}
	return info
}

// recorded asks p about key until the holder's record is there (its
// session watcher writes it 50 ms after the grant) and returns the answer.
func recorded(t *testing.T, p *postgres.Provider, key string) locking.LockInfo {
	t.Helper()
	var info locking.LockInfo
	waitFor(t, "the holder record of "+key, func() bool {
		info = inspect(t, p, key)
		return info.Token != 0
	})
	return info
}

// heldFor checks that info says key has been held for a plausible time:
// at least 0, and not before the test started holding it.
func heldFor(t *testing.T, info locking.LockInfo, before time.Time) {
	t.Helper()
	if info.HeldFor < 0 || info.HeldFor > time.Since(before)+time.Second {
		t.Fatalf("HeldFor = %s, want between 0 and %s", info.HeldFor, time.Since(before))
	}
	if info.Holder.Since.Before(before.Add(-time.Second)) || info.Holder.Since.After(time.Now().Add(time.Second)) {
		t.Fatalf("Holder.Since = %s, not within the hold (from %s)", info.Holder.Since, before)
	}
	if info.LeaseLeft != 0 {
		t.Fatalf("LeaseLeft = %s, want 0 (an advisory lock has no lease)", info.LeaseLeft)
	}
}

// TestInspectNamesTheHolderOfAnotherProvider: another provider (another
// process, as far as the server can tell) reads the holder's instance,
// message type and token from the server; the holder's own provider tells
// its trace and span too. After the release, nobody holds the key.
func TestInspectNamesTheHolderOfAnotherProvider(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	holder := newProvider(t, dsn, &postgres.Options{Instance: "billing-1"})
	asker := newProvider(t, dsn, &postgres.Options{Instance: "debug"})
	ctx := locking.ContextWithAcquirer(ctxT(t), locking.Acquirer{
		MessageType: "bank.WithdrawCommand",
		TraceID:     "4bf92f3577b34da6a3ce929d0e0e4736",
		SpanID:      "00f067aa0ba902b7",
	})
	before := time.Now()
	h, err := holder.TryAcquire(ctx, "acct:1", 0)
	if err != nil {
		t.Fatal(err)
	}

	info := recorded(t, asker, "acct:1")
	if !info.Held || info.Token != h.Token() || info.Waiters != 0 {
		t.Fatalf("Inspect = %+v, want held with token %d and no waiters", info, h.Token())
	}
	want := locking.Holder{Instance: "billing-1", MessageType: "bank.WithdrawCommand", Since: info.Holder.Since}
	if info.Holder != want {
		t.Fatalf("Holder = %+v, want %+v (no trace ids: they are not kept on the server)", info.Holder, want)
	}
	heldFor(t, info, before)

	own := inspect(t, holder, "acct:1")
	want = locking.Holder{Instance: "billing-1", MessageType: "bank.WithdrawCommand",
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", Since: own.Holder.Since}
	if !own.Held || own.Token != h.Token() || own.Holder != want {
		t.Fatalf("the holder's own Inspect = %+v, want held with token %d by %+v", own, h.Token(), want)
	}
	heldFor(t, own, before)

	if free := inspect(t, asker, "acct:2"); free.Held || free.Token != 0 || free.Holder != (locking.Holder{}) {
		t.Fatalf("Inspect of a key nobody holds = %+v", free)
	}
	release(t, h)
	for _, p := range []*postgres.Provider{asker, holder} {
		if info := inspect(t, p, "acct:1"); info.Held || info.Token != 0 {
			t.Fatalf("Inspect after the release = %+v, want not held", info)
		}
	}
	if n := sessionsNamed(t, dsn, "tm-lock %"); n != 0 {
		t.Fatalf("%d sessions still carry a holder record after the release", n)
	}
}

// sessionsNamed counts the sessions whose application_name is LIKE pattern.
func sessionsNamed(t *testing.T, dsn, pattern string) int {
	t.Helper()
	conn := connect(t, dsn)
	var n int
	if err := conn.QueryRow(ctxT(t), "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1", pattern).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInspectNamesAHolderGrantedAfterAWait: a lock granted through the
// server's queue (the wait statement) records its holder as a tried one
// does, and a session's record of an earlier lock is not taken for the
// holder of another.
func TestInspectNamesAHolderGrantedAfterAWait(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	first := newProvider(t, dsn, &postgres.Options{Instance: "first"})
	second := newProvider(t, dsn, &postgres.Options{Instance: "second"})
	asker := newProvider(t, dsn, nil)
	h1, err := first.TryAcquire(locking.ContextWithAcquirer(ctxT(t), locking.Acquirer{MessageType: "a.One"}), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	granted := make(chan locking.Handle, 1)
	failed := make(chan error, 1)
	go func() {
		h, err := second.TryAcquire(locking.ContextWithAcquirer(ctxT(t), locking.Acquirer{MessageType: "b.Two"}), "k", time.Minute)
		if err != nil {
			failed <- err
			return
		}
		granted <- h
	}()
	waitFor(t, "the second provider's caller waiting", func() bool { return second.Waiters("k") == 1 })
	if info := recorded(t, second, "k"); !info.Held || info.Token != h1.Token() || info.Holder.Instance != "first" || info.Waiters != 1 {
		t.Fatalf("Inspect while waiting = %+v, want held by first with 1 waiter here", info)
	}
	before := time.Now()
	release(t, h1)
	var h2 locking.Handle
	select {
	case h2 = <-granted:
	case err := <-failed:
		t.Fatal(err)
	case <-time.After(time.Minute):
		t.Fatal("the waiter was never granted")
	}
	defer release(t, h2)
	info := recorded(t, asker, "k")
	want := locking.Holder{Instance: "second", MessageType: "b.Two", Since: info.Holder.Since}
	if !info.Held || info.Token != h2.Token() || info.Holder != want {
		t.Fatalf("Inspect = %+v, want held with token %d by %+v", info, h2.Token(), want)
	}
	heldFor(t, info, before)
}

// TestReleaseWhileTheRecordIsWrittenKeepsTheSession: a Release that meets
// the session watcher writing the holder record (50 ms after the grant)
// waits for that statement instead of cutting it off, so it neither breaks
// the session nor reports the lock lost.
func TestReleaseWhileTheRecordIsWrittenKeepsTheSession(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	p := newProvider(t, dsn, &postgres.Options{MaxConns: 1})
	for i := range 40 {
		h := acquire(t, p, "race", 0)
		// The hold is what is tested: holds around the watcher's start.
		time.Sleep(40*time.Millisecond + time.Duration(i)*time.Millisecond/2)
		release(t, h)
	}
	if n := sessionsNamed(t, dsn, "tm-lock %"); n != 0 {
		t.Fatalf("%d sessions still carry a holder record after the releases", n)
	}
	if inUse, idle := p.Conns(); inUse != 0 || idle != 1 {
		t.Fatalf("Conns() = %d in use, %d idle, want the one session kept", inUse, idle)
	}
}

// TestInspectThroughTheBehaviorNamesTheMessageType: a lock taken by a Send
// records the message's type, which another provider reads back.
func TestInspectThroughTheBehaviorNamesTheMessageType(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	m := build(t,
		postgres.WithPostgresDistributedLockingOptions(postgres.Options{DSN: dsn, Instance: "bank-a"}),
		locking.WithDistributedLocking[holdUntilCancelled, error](),
		mediator.WithHandler[holdUntilCancelled, error](holdHandler),
	)
	asker := newProvider(t, dsn, nil)
	held, result := sendHold(m, "acct:9")
	token := <-held
	info := recorded(t, asker, "holdUntilCancelled:acct:9")
	if !info.Held || info.Token != token || info.Holder.Instance != "bank-a" ||
		info.Holder.MessageType != "postgres_test.holdUntilCancelled" {
		t.Fatalf("Inspect = %+v, want held with token %d by bank-a for postgres_test.holdUntilCancelled", info, token)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-result
}

// TestInspectCutsALongHolderRecordShort: the server keeps 63 bytes of a
// record; the token comes first, so it survives a long instance name, and
// spaces and non-ASCII bytes of the names become '_'.
func TestInspectCutsALongHolderRecordShort(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	long := strings.Repeat("very-long-host-name.", 5) + ":4242"
	holder := newProvider(t, dsn, &postgres.Options{Instance: long})
	spaced := newProvider(t, dsn, &postgres.Options{Instance: "my app"})
	asker := newProvider(t, dsn, nil)

	h := acquire(t, holder, "long", 0)
	defer release(t, h)
	info := recorded(t, asker, "long")
	if !info.Held || info.Token != h.Token() || len(info.Holder.Instance) < 20 || !strings.HasPrefix(long, info.Holder.Instance) ||
		info.Holder.MessageType != "" {
		t.Fatalf("Inspect = %+v, want token %d and a prefix of %q", info, h.Token(), long)
	}

	h2, err := spaced.TryAcquire(locking.ContextWithAcquirer(ctxT(t), locking.Acquirer{MessageType: "pkg.Über Type"}), "spaced", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer release(t, h2)
	info = recorded(t, asker, "spaced")
	if info.Token != h2.Token() || info.Holder.Instance != "my_app" || info.Holder.MessageType != "pkg.__ber_Type" {
		t.Fatalf("Inspect = %+v, want token %d, my_app and pkg.__ber_Type", info, h2.Token())
	}
}

// TestInspectNamesASessionThatIsNotAProvidersByPid: a lock on the same id
// taken by hand (psql, another library) has no record: Inspect gives the
// session's pid and no token.
func TestInspectNamesASessionThatIsNotAProvidersByPid(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	p := newProvider(t, dsn, nil)
	conn := connect(t, dsn)
	var pid int
	if err := conn.QueryRow(ctxT(t), "SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock($1)) AS l", p.LockID("by-hand")).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	info := inspect(t, p, "by-hand")
	if !info.Held || info.Token != 0 || info.Holder.Instance != "pid "+strconv.Itoa(pid) || info.Holder.MessageType != "" {
		t.Fatalf("Inspect = %+v, want held by pid %d, no token", info, pid)
	}
}

// TestInspectFailsAsUnavailable: a closed provider, and a server that does
// not answer, give ErrUnavailable and nothing else.
func TestInspectFailsAsUnavailable(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	p, err := postgres.New(dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = p.Inspect(ctxT(t), "k")
	isUnavailable(t, err)
	if !errors.Is(err, postgres.ErrClosed) {
		t.Fatalf("Inspect on a closed provider = %v, want ErrClosed", err)
	}

	down, err := postgres.New("postgres://postgres@127.0.0.1:1/none", &postgres.Options{DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	_, err = down.Inspect(ctxT(t), "k")
	isUnavailable(t, err)
}
