package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
	"github.com/turbomediator/turbomediator-go/providers/postgres/pgtest"
)

// chaosLostBound is how long a holder whose session the server ended may
// go on without being told (Lost): the documentation promises a second; the
// chaos run allows five on a loaded machine and reports the maximum seen.
const chaosLostBound = 5 * time.Second

// TestChaosPostgres is `make chaos`'s PostgreSQL mode: for CHAOS_DURATION
// (skipped without it) 4 workers, each with a provider of its own (as 4
// processes would have), take one key and read-modify-write a fenced
// counter row while the holder's session is terminated, a waiting head's
// session is terminated, the holder's idle backend is frozen (SIGSTOP) for
// 0.5–3s and resumed, and the server is restarted (immediate and fast).
// CHAOS_SEED replays a schedule.
//
// Violations: (a) a holder entering while another is inside that was not
// told it lost the lock and whose session the server had not ended (an
// ended session frees the lock before its holder can hear of it, so that
// overlap is expected and counted: the fence protects the data); also an
// entry while the holder's backend is frozen; (b) a fenced write refused to
// a holder not told within chaosLostBound that it lost the lock; (c) a
// counter other than the number of accepted writes; (d) a token not above
// the previous holder's (unless one of the two had lost its session);
// (e) a holder left untold longer than chaosLostBound after its session
// ended; (f) a Release reporting success though it began after its session
// was gone (or failing with anything but ErrLockLost or ErrUnavailable).
//
// Which sessions the server ended the checker knows from the faults: a
// terminated backend's pid (recorded before pg_terminate_backend, and gone
// when pg_terminate_backend with a timeout says it exited), and for a
// restart every session whose backend_start precedes the new postmaster's
// start (pg_postmaster_start_time).
//
// The counter row is claimed before it is read: "UPDATE ... SET fence =
// $token WHERE fence < $token RETURNING n" — a fenced read, so that the
// storage knows of the newer holder before it reads, and a stale holder that
// read before it cannot write its stale n+1 after the newer holder's read
// (a fence checked only at the write lets a stale write land between the
// newer holder's read and write: a lost update the fence would not catch).
// The write then compares with <=: the holder writes twice (claim and
// update) with one token, and any later claim has raised the fence above it.
func TestChaosPostgres(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("CHAOS_DURATION"))
	if err != nil || d <= 0 {
		t.Skip("set CHAOS_DURATION (make chaos) to run")
	}
	seed, _ := strconv.ParseUint(os.Getenv("CHAOS_SEED"), 10, 64)
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("CHAOS_SEED=%d CHAOS_DURATION=%s", seed, d)
	noLeaks(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	cluster := pgtest.Start(t)
	dsn := cluster.DSN("postgres")
	ctx, cancel := context.WithTimeout(context.Background(), d+3*time.Minute)
	defer cancel()
	// The data's writes must survive an immediate restart once
	// acknowledged (the test cluster runs with synchronous_commit off).
	store := &chaosStore{pool: newPool(t, dsn+"&synchronous_commit=on")}
	if _, err := store.pool.Exec(ctx, `CREATE TABLE chaos_counter (id int PRIMARY KEY, n bigint NOT NULL, fence bigint NOT NULL);
		INSERT INTO chaos_counter VALUES (1, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	const key = "counter"
	l := &chaosLog{t: t, ended: map[uint32]chaosEnd{}, goneUnexplained: map[*chaosEntry]struct{}{}}
	var (
		grants, accepted, refused, unknown, unavailable, contended atomic.Int64
		wg                                                         sync.WaitGroup
	)
	stop := time.Now().Add(d)
	var lockID int64
	for w := range 4 {
		p := newProvider(t, dsn, &postgres.Options{DialTimeout: 2 * time.Second})
		lockID = p.LockID(key)
		wrng := rand.New(rand.NewPCG(seed, uint64(w+1)))
		wg.Go(func() {
			for time.Now().Before(stop) {
				e := &chaosEntry{worker: w, start: time.Now()}
				h, err := p.TryAcquire(ctx, key, 2*time.Second)
				switch {
				case errors.Is(err, locking.ErrUnavailable):
					unavailable.Add(1)
					time.Sleep(50 * time.Millisecond) // a server that is down answers at once; do not spin
					continue
				case errors.Is(err, locking.ErrNotAcquired):
					contended.Add(1)
					continue
				case err != nil:
					l.violate("worker %d: TryAcquire: %v", w, err)
					return
				}
				grants.Add(1)
				e.h, e.token, e.pid = h, h.Token(), postgres.BackendPID(h)
				stopLost := h.(locking.LostNotifier).AfterLost(func() { e.lostAt.Store(time.Now().UnixNano()) })
				wctx, cancelW := context.WithTimeout(ctx, 3*time.Second)
				e.backendStart, e.gone = store.backendStart(wctx, e.pid)
				e.checked = time.Now()
				l.enter(e)

				n, claimed, err := store.claim(wctx, e.token)
				if err == nil && claimed {
					time.Sleep(time.Duration(wrng.IntN(300)) * time.Millisecond) // the work done under the lock
					var ok bool
					ok, err = store.write(wctx, e.token, n+1)
					switch {
					case err != nil:
						unknown.Add(1) // the answer was lost: the write may have landed
					case ok:
						accepted.Add(1)
					default:
						claimed = false
					}
				}
				cancelW()
				if err == nil && !claimed {
					refused.Add(1)
					l.refused(e)
				}
				l.leave(e)
				began := time.Now()
				l.released(e, began, h.Release(ctx))
				stopLost()
			}
		})
	}

	faults := map[string]int{}
	for time.Now().Before(stop) {
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		switch f := rng.IntN(10); {
		case f < 4:
			faults[l.terminate(ctx, dsn, lockID, true)]++
		case f < 6:
			faults[l.terminate(ctx, dsn, lockID, false)]++
		case f < 8:
			faults[l.freeze(ctx, dsn, lockID, time.Duration(500+rng.IntN(2500))*time.Millisecond)]++
		case f == 8:
			faults["restart-immediate"]++
			l.restart(ctx, dsn, cluster.Crash)
		default:
			faults["restart-fast"]++
			l.restart(ctx, dsn, cluster.Restart)
		}
	}
	wg.Wait()

	// The pool's idle connections may have died with the last restart:
	// each failed read discards one.
	var n int64
	for attempt := 0; ; attempt++ {
		err := store.pool.QueryRow(ctx, "SELECT n FROM chaos_counter WHERE id = 1").Scan(&n)
		if err == nil {
			break
		}
		if attempt == 20 {
			t.Fatalf("reading the counter: %v", err)
		}
	}
	// Every accepted write added one, and so may each write whose answer was
	// lost; a lower value is a lost update, a higher one a write that landed
	// without a holder.
	if n < accepted.Load() || n > accepted.Load()+unknown.Load() {
		l.violate("(c) counter %d, but %d writes were accepted and %d had no answer", n, accepted.Load(), unknown.Load())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("postgres chaos: %d grants, %d fenced writes accepted (%d without an answer), %d refused (each to a holder told it lost the lock, or reported above), %d unavailable, %d contended; faults %v",
		grants.Load(), accepted.Load(), unknown.Load(), refused.Load(), unavailable.Load(), contended.Load(), faults)
	t.Logf("postgres chaos: %d overlaps with a holder whose session the server had ended (expected), %d with a holder already told; %d tokens below an earlier one (both sessions ended, expected); max time from a session's end to Lost %s (%d measured), max time a holder ran untold after its session's end %s; %d sessions gone without a fault; %d releases reported the loss, %d unlocked before their session's end took effect; violations %d",
		l.endedOverlaps, l.toldOverlaps, l.lateTokens, l.maxToLost, l.lostMeasured, l.maxUntold, len(l.goneUnexplained), l.releaseErrors, l.unlockedFirst, l.violations)
	if grants.Load() == 0 {
		t.Error("no grant at all: the run tested nothing")
	}
	if l.violations > 0 {
		t.Errorf("%d violations; replay with CHAOS_SEED=%d", l.violations, seed)
	}
}

// chaosStore is the fenced counter row, on the application's own pool.
type chaosStore struct{ pool *pgxpool.Pool }

// claim raises the row's fence to token and reads n; claimed is false when a
// newer token has claimed it already.
func (s *chaosStore) claim(ctx context.Context, token uint64) (n int64, claimed bool, err error) {
	err = s.pool.QueryRow(ctx, "UPDATE chaos_counter SET fence = $1 WHERE id = 1 AND fence < $1 RETURNING n", int64(token)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return n, err == nil, err
}

// write stores n unless a newer token claimed the row since token did.
func (s *chaosStore) write(ctx context.Context, token uint64, n int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, "UPDATE chaos_counter SET n = $2, fence = $1 WHERE id = 1 AND fence <= $1", int64(token), n)
	return err == nil && tag.RowsAffected() == 1, err
}

// backendStart returns when the server started backend pid's session;
// gone reports that the session no longer exists. Both are zero when the
// server did not answer.
func (s *chaosStore) backendStart(ctx context.Context, pid uint32) (start time.Time, gone bool) {
	err := s.pool.QueryRow(ctx, "SELECT backend_start FROM pg_stat_activity WHERE pid = $1", int32(pid)).Scan(&start)
	return start, errors.Is(err, pgx.ErrNoRows)
}

// chaosEntry is one grant: who, with which token and backend, since when,
// and when Lost closed (unix nanoseconds, 0 until it does).
type chaosEntry struct {
	worker int
	token  uint64
	pid    uint32
	start  time.Time // TryAcquire was called: a session end after it ended this grant
	// backendStart is when the server started the holder's session (zero
	// when the server did not answer): a restart that began after it ended
	// the session. A grant asked for before a restart may be had on a new
	// session after it.
	backendStart time.Time
	// gone reports that the session had ended when looked for, at checked.
	gone    bool
	checked time.Time
	h       locking.Handle
	lostAt  atomic.Int64
}

// told reports whether the holder has been told it lost the lock.
func (e *chaosEntry) told() bool {
	select {
	case <-e.h.Lost():
		return true
	default:
		return false
	}
}

// chaosLog is the checker: the holders inside, the sessions the faults
// ended, and the figures.
type chaosLog struct {
	t  *testing.T
	mu sync.Mutex
	// inside are the holders in their critical sections, in entry order.
	inside []*chaosEntry
	// ended maps a backend pid to when a fault terminated it; restarts end
	// the sessions of the postmaster they stop.
	ended    map[uint32]chaosEnd
	restarts []chaosRestart
	// goneUnexplained are grants whose session had ended, found by no
	// fault: reported in the summary.
	goneUnexplained map[*chaosEntry]struct{}
	// frozen is the pid of a backend stopped while it held the lock, 0
	// when none.
	frozen    uint32
	lastToken uint64

	endedOverlaps, toldOverlaps, lateTokens, lostMeasured, releaseErrors, unlockedFirst, violations int
	maxToLost, maxUntold                                                                            time.Duration
}

func (l *chaosLog) violate(format string, args ...any) {
	l.mu.Lock()
	l.violations++
	l.mu.Unlock()
	l.t.Errorf(format, args...)
}

// endedAt returns when the server ended e's session (by a fault), if it
// did. Called with mu held.
func (l *chaosLog) endedAt(e *chaosEntry) (time.Time, bool) {
	var at time.Time
	if t, ok := l.ended[e.pid]; ok && t.from.After(e.start) {
		at = t.from
	}
	for _, r := range l.restarts {
		var ends bool
		end := r.begin
		if e.backendStart.IsZero() {
			ends = r.begin.After(e.start) // a guess: it may hide an overlap, never raise a false one
		} else {
			// A session of an earlier postmaster; while the restart is
			// under way, every session known so far.
			ends = r.pmStart.IsZero() || e.backendStart.Before(r.pmStart)
			if e.backendStart.After(end) {
				end = e.backendStart
			}
		}
		if ends && (at.IsZero() || end.Before(at)) {
			at = end
		}
	}
	if at.IsZero() && e.gone {
		// Gone without a fault: no fault explains it, but the server
		// freed the lock with it all the same.
		at = e.checked
		l.goneUnexplained[e] = struct{}{}
	}
	return at, !at.IsZero()
}

// enter checks a new holder against those inside: (a), (d) and (e).
func (l *chaosLog) enter(e *chaosEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var bad []string
	_, eIsEnded := l.endedAt(e)
	if l.frozen != 0 && l.frozen != e.pid && !eIsEnded && !e.told() {
		bad = append(bad, fmt.Sprintf("(a) worker %d entered (token %d, backend %d) while the holder's backend %d was frozen and held the lock", e.worker, e.token, e.pid, l.frozen))
	}
	for _, o := range l.inside {
		end, isEnded := l.endedAt(o)
		switch {
		case o.told():
			l.toldOverlaps++
		case isEnded:
			// The server freed the lock with the session; its holder
			// hears of it within a second.
			l.endedOverlaps++
			if untold := now.Sub(end); untold > chaosLostBound {
				bad = append(bad, fmt.Sprintf("(e) worker %d (token %d) still untold %s after its session ended", o.worker, o.token, untold))
			}
		default:
			bad = append(bad, fmt.Sprintf("(a) worker %d entered (token %d, backend %d) while worker %d (token %d, backend %d) was inside, not told it lost the lock, its session not ended by the server",
				e.worker, e.token, e.pid, o.worker, o.token, o.pid))
		}
	}
	if e.token <= l.lastToken {
		// A grant whose session ended before its holder got here can
		// arrive after the next holder's.
		if eIsEnded || e.told() {
			l.lateTokens++
		} else {
			bad = append(bad, fmt.Sprintf("(d) worker %d got token %d, not above the previous %d, its session alive", e.worker, e.token, l.lastToken))
		}
	}
	l.lastToken = max(l.lastToken, e.token)
	l.inside = append(l.inside, e)
	l.violations += len(bad)
	for _, b := range bad {
		l.t.Error(b)
	}
}

// refused checks (b): a holder whose fenced write was refused must be told
// it lost the lock within chaosLostBound.
func (l *chaosLog) refused(e *chaosEntry) {
	select {
	case <-e.h.Lost():
	case <-time.After(chaosLostBound):
		l.mu.Lock()
		_, ended := l.endedAt(e)
		l.mu.Unlock()
		l.violate("(b) worker %d: the fence refused token %d, and it was not told it lost the lock within %s (session ended by the server: %t)", e.worker, e.token, chaosLostBound, ended)
	}
}

// leave takes e out of the holders inside, checks (e) and measures the time
// from its session's end to Lost.
func (l *chaosLog) leave(e *chaosEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, o := range l.inside {
		if o == e {
			l.inside = append(l.inside[:i], l.inside[i+1:]...)
			break
		}
	}
	end, ended := l.endedAt(e)
	if !ended {
		return
	}
	now := time.Now()
	if at := e.lostAt.Load(); at != 0 {
		if d := time.Unix(0, at).Sub(end); d > 0 {
			l.maxToLost = max(l.maxToLost, d)
			l.lostMeasured++
		}
		return
	}
	if e.told() {
		return // told, the callback not run yet
	}
	untold := now.Sub(end)
	l.maxUntold = max(l.maxUntold, untold)
	if untold > chaosLostBound {
		l.violations++
		l.t.Errorf("(e) worker %d (token %d) ran %s untold after its session ended", e.worker, e.token, untold)
	}
}

// goneBy returns when e's session was known to be gone (a terminated
// backend that had exited, a restart done), if it is. Called with mu held.
func (l *chaosLog) goneBy(e *chaosEntry) (time.Time, string, bool) {
	if t, ok := l.ended[e.pid]; ok && t.from.After(e.start) && !t.goneBy.IsZero() {
		return t.goneBy, "terminated", true
	}
	for _, r := range l.restarts {
		if r.done.IsZero() {
			continue
		}
		if (e.backendStart.IsZero() && r.begin.After(e.start)) || (!e.backendStart.IsZero() && e.backendStart.Before(r.pmStart)) {
			return r.done, "restart", true
		}
	}
	return time.Time{}, "", false
}

// released checks (f): a Release that began after the session was gone
// cannot have unlocked anything, so it must not report success. (One that
// began before may: the unlock can run before the backend acts on its
// termination.)
func (l *chaosLog) released(e *chaosEntry, began time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	gone, how, ok := l.goneBy(e)
	switch {
	case err == nil && ok && gone.Before(began):
		l.violations++
		l.t.Errorf("(f) worker %d (token %d, backend %d): Release reported success, but the session was gone (%s) %s before it began",
			e.worker, e.token, e.pid, how, began.Sub(gone))
	case err == nil:
		if _, ended := l.endedAt(e); ended {
			l.unlockedFirst++ // the unlock ran before the backend acted on its end
		}
	case !errors.Is(err, locking.ErrLockLost) && !errors.Is(err, locking.ErrUnavailable):
		l.violations++
		l.t.Errorf("(f) worker %d (token %d): Release = %v, want nil, ErrLockLost or ErrUnavailable", e.worker, e.token, err)
	default:
		l.releaseErrors++
	}
}

// backend finds the backend holding (granted) or first waiting for lock id,
// within timeout (a query on a stalled server must not hang the run); with
// idle, only a backend between statements.
func backend(ctx context.Context, conn *pgx.Conn, id int64, granted, idle bool, timeout time.Duration) (uint32, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var pid uint32
	err := conn.QueryRow(ctx, `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted = $2 AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
		AND (NOT $3 OR a.state = 'idle') ORDER BY l.pid LIMIT 1`, id, granted, idle).Scan(&pid)
	return pid, err
}

// monitor connects to the server for one fault, or returns nil when it is
// not answering.
func (l *chaosLog) monitor(ctx context.Context, dsn string) *pgx.Conn {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, dsn)
	if err != nil {
		l.t.Logf("chaos: monitor connection: %v", err)
		return nil
	}
	return conn
}

// terminate ends the session of the holder (holder) or of a waiting head,
// recording the end before it happens. It returns the fault's name.
func (l *chaosLog) terminate(ctx context.Context, dsn string, id int64, holder bool) string {
	kind := "terminate-waiter"
	if holder {
		kind = "terminate-holder"
	}
	conn := l.monitor(ctx, dsn)
	if conn == nil {
		return kind + " (no connection)"
	}
	defer conn.Close(context.Background())
	pid, err := backend(ctx, conn, id, holder, false, 5*time.Second)
	if err != nil {
		return kind + " (none)"
	}
	l.mu.Lock()
	l.ended[pid] = chaosEnd{from: time.Now()}
	l.mu.Unlock()
	// The signal is sent at once; the backend acts on it at its next
	// interrupt check: the call waits (up to 5s) until it has exited.
	var gone bool
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.QueryRow(tctx, "SELECT pg_terminate_backend($1, 5000)", int32(pid)).Scan(&gone); err != nil || !gone {
		l.t.Logf("chaos: pg_terminate_backend(%d, 5000) = %t, %v", pid, gone, err)
		return kind
	}
	l.mu.Lock()
	l.ended[pid] = chaosEnd{from: l.ended[pid].from, goneBy: time.Now()}
	l.mu.Unlock()
	return kind
}

// freeze stops the holder's backend (SIGSTOP) for d, then resumes it
// (SIGCONT). While it is frozen and holds the lock nobody may enter.
//
// Only an idle backend is frozen: one stopped inside a statement may hold
// one of the server's internal locks (LWLocks), and then every session
// stalls — the monitor's queries and new connections too (a run hung so,
// with a backend stopped in a SELECT). A backend that began a statement
// between the choice and the signal may still do it: the check that
// follows the signal is bounded, and the backend resumed if it times out.
func (l *chaosLog) freeze(ctx context.Context, dsn string, id int64, d time.Duration) string {
	conn := l.monitor(ctx, dsn)
	if conn == nil {
		return "freeze-holder (no connection)"
	}
	defer conn.Close(context.Background())
	pid, err := backend(ctx, conn, id, true, true, 5*time.Second)
	if err != nil {
		return "freeze-holder (none idle)"
	}
	if err := syscall.Kill(int(pid), syscall.SIGSTOP); err != nil {
		l.t.Logf("chaos: SIGSTOP %d: %v", pid, err)
		return "freeze-holder (signal failed)"
	}
	defer func() {
		l.mu.Lock()
		l.frozen = 0
		l.mu.Unlock()
		if err := syscall.Kill(int(pid), syscall.SIGCONT); err != nil {
			l.violate("chaos: SIGCONT %d: %v", pid, err)
		}
	}()
	// Frozen, it cannot release: if it still holds the lock now, it holds
	// it until resumed.
	still, err := backend(ctx, conn, id, true, false, 2*time.Second)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (err != nil && !errors.Is(err, pgx.ErrNoRows)):
		l.t.Logf("chaos: the server stalled with backend %d stopped: %v", pid, err)
		return "freeze-holder (stalled the server, resumed)"
	case err != nil || still != pid:
		return "freeze-holder (released before the signal)"
	}
	l.mu.Lock()
	l.frozen = pid
	l.mu.Unlock()
	time.Sleep(d)
	return "freeze-holder"
}

// chaosEnd is the end of a session by a fault: the lock may be free from
// from; the session is gone by goneBy (zero until known).
type chaosEnd struct{ from, goneBy time.Time }

// chaosRestart is one restart of the server: when it began, and when the
// new postmaster started (zero while under way). A session that started
// before the new postmaster did was ended by it.
type chaosRestart struct{ begin, pmStart, done time.Time }

// restart records that every session ends now, runs the restart and
// records the new postmaster's start.
func (l *chaosLog) restart(ctx context.Context, dsn string, do func() error) {
	l.mu.Lock()
	l.restarts = append(l.restarts, chaosRestart{begin: time.Now()})
	i := len(l.restarts) - 1
	l.mu.Unlock()
	if err := do(); err != nil {
		l.violate("chaos: restarting the server: %v", err)
	}
	done := time.Now() // the old postmaster's sessions are gone
	pmStart := done    // if the server does not say: later than its start
	if conn := l.monitor(ctx, dsn); conn != nil {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := conn.QueryRow(qctx, "SELECT pg_postmaster_start_time()").Scan(&pmStart); err != nil {
			l.t.Logf("chaos: pg_postmaster_start_time: %v", err)
		}
		conn.Close(context.Background())
	}
	l.mu.Lock()
	l.restarts[i].pmStart, l.restarts[i].done = pmStart, done
	l.mu.Unlock()
}
