package redlock_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// rlHeld reports whether h is still vouched for.
func rlHeld(h locking.Handle) bool {
	select {
	case <-h.Lost():
		return false
	default:
		return true
	}
}

func TestRedlockExtendsOnAMajorityAndLosesTheLockWithTheMajority(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, rlShortLease())
	other := ns.redlock(t, rlShortLease())
	ctx := rlCtx(t)
	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * r.TTL()) // three leases: only extensions keep it
	if !rlHeld(h) {
		t.Fatal("lost with every node up")
	}
	if _, err := other.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("another provider got the extended lock: %v", err)
	}

	ns.srvs[0].Kill()
	time.Sleep(2 * r.TTL())
	if !rlHeld(h) {
		t.Fatal("lost with one node of three down")
	}
	if _, err := other.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("another provider got the lock with one node down: %v", err)
	}

	ns.srvs[1].Kill()
	killed := time.Now()
	select {
	case <-h.Lost():
	case <-time.After(r.TTL()):
		t.Fatalf("Lost() still open %s after the majority went down", r.TTL())
	}
	if d := time.Since(killed); d > r.Validity() {
		t.Fatalf("Lost() closed %s after the majority went down, later than the validity %s", d, r.Validity())
	}
	if err := h.Release(ctx); !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("Release with two nodes down = %v, want ErrUnavailable", err)
	}
}

func TestRedlockRestartedNodeRejoinsTheLeaseAtTheNextExtension(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, rlShortLease())
	ctx := rlCtx(t)
	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	lock, fence := r.StorageKeys("k")
	ns.srvs[0].Restart() // empty: no persistence
	if !rlEventually(t, func() bool { return ns.owners(t, lock)[0] != "" }) {
		t.Fatal("the restarted node never got the lease back")
	}
	if got := ns.owners(t, lock); got[0] != got[1] {
		t.Fatalf("owners = %q, want the holder's on the restarted node", got)
	}
	if got := ns.fences(t, fence)[0]; got != h.Token() {
		t.Fatalf("restarted node's fence counter = %d, want the token %d stored back", got, h.Token())
	}
	if !rlHeld(h) {
		t.Fatal("a restarted node cost the lock")
	}
}

func TestRedlockPausedNodeHoldsUpNothingAndAllowsNoSecondHolder(t *testing.T) {
	rlNoLeaks(t)
	// The scenario needs the holder to keep extending on the two live nodes.
	// On a machine loaded by other test packages an extension can miss its
	// lease; the holder then loses the lock, rightly, and another may take
	// it. That attempt proves nothing either way, so it is run again on a
	// fresh key; a second holder while the first still vouches for its
	// lease fails at once.
	const attempts = 3
	ns := startRedlockNodes(t, 3)
	for attempt := 1; attempt <= attempts; attempt++ {
		key := fmt.Sprintf("k%d", attempt)
		tries, ok := redlockPausedNodeScenario(t, ns, key)
		if ok {
			t.Logf("%d refused attempts while a node was paused (attempt %d)", tries, attempt)
			return
		}
		t.Logf("attempt %d: the holder's extensions missed its lease under load; running the scenario again", attempt)
	}
	t.Fatalf("the holder lost its lease in all %d attempts with two of three nodes live", attempts)
}

// redlockPausedNodeScenario pauses node 2 while a lock on key is held and
// checks that no one else gets the key. ok is false when the holder itself
// lost the lease (its Lost closed) before another provider got the key.
func redlockPausedNodeScenario(t *testing.T, ns *rlNodes, key string) (tries int, ok bool) {
	t.Helper()
	r := ns.redlock(t, rlShortLease())
	other := ns.redlock(t, rlShortLease())
	ctx := rlCtx(t)

	h, err := r.TryAcquire(ctx, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	ns.srvs[2].Pause() // mid-lease: it keeps the key but answers nothing
	defer ns.srvs[2].Resume()
	// secondHolder fails the test unless h had lost the lease: Lost closes
	// when h's vouched-for validity ends, a little (the drift allowance)
	// before the keys expire on the nodes, so a timer running late on a
	// loaded machine gets a grace before a second holder counts as one.
	secondHolder := func(h2 locking.Handle, when string) {
		t.Helper()
		defer h2.Release(ctx)
		select {
		case <-h.Lost():
		case <-time.After(250 * time.Millisecond):
			lock, _ := other.StorageKeys(key)
			t.Fatalf("a second holder %s while the first still vouches for its lease; owners on the nodes: %q (tokens: first %d, second %d)",
				when, ns.owners(t, lock), h.Token(), h2.Token())
		}
	}
	// Contenders try for more than two leases while the holder extends on
	// the two live nodes; the paused node's copy runs out meanwhile.
	until := time.Now().Add(2*r.TTL() + 200*time.Millisecond)
	for time.Now().Before(until) {
		begin := time.Now()
		h2, err := other.TryAcquire(ctx, key, 0)
		if err == nil {
			secondHolder(h2, "with a paused node")
			return tries, false
		}
		// The property is that nobody else gets the key. On a busy
		// machine a live node may also miss the node timeout now and
		// then, which makes that attempt an outage rather than contention.
		if !errors.Is(err, locking.ErrNotAcquired) && !errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("with a paused node: %v, want ErrNotAcquired", err)
		}
		// Bounded by the node timeout, not by go-redis's 3s read timeout
		// that an attempt waiting for the paused node would take.
		if d := time.Since(begin); d > rlShortLease().NodeTimeout+time.Second {
			t.Fatalf("an attempt with a paused node took %s; the majority must not wait for it", d)
		}
		tries++
		time.Sleep(20 * time.Millisecond)
	}
	ns.srvs[2].Resume()
	// The resumed node has dropped its expired copy; it still makes no
	// majority for anyone else.
	for range 10 {
		h2, err := other.TryAcquire(ctx, key, 0)
		if err == nil {
			secondHolder(h2, "after the node resumed")
			return tries, false
		}
		if !errors.Is(err, locking.ErrNotAcquired) && !errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("after the node resumed: %v, want ErrNotAcquired", err)
		}
	}
	if !rlHeld(h) {
		return tries, false
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	h2, err := other.TryAcquire(ctx, key, time.Second)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	_ = h2.Release(ctx)
	return tries, true
}

func TestRedlockSplitVoteGivesEverythingBackAndRetrying(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, nil)
	ctx := rlCtx(t)
	lock, _ := r.StorageKeys("k")
	// Strangers hold the key on two nodes: no majority for us.
	for _, i := range []int{0, 1} {
		if err := ns.peek[i].Set(ctx, lock, "stranger", 30*time.Second).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := r.TryAcquire(ctx, "k", 0)
	var le *locking.Error
	if !errors.As(err, &le) || le.Key != "k" {
		t.Fatalf("err = %v, want *locking.Error for \"k\"", err)
	}
	// The free node's grant may land after the two refusals decided the
	// attempt: the goroutine that receives it gives it back.
	if !rlEventually(t, func() bool { return ns.owners(t, lock)[2] == "" }) {
		t.Fatalf("the free node kept %q after a failed attempt; it must be given back", ns.owners(t, lock)[2])
	}
	// One stranger is a minority: outvoted.
	ns.peek[1].Del(ctx, lock)
	// It may take a retry: the failed attempt's grant on the free node may
	// land after the check above saw the node empty, and be given back
	// only then.
	h, err := r.TryAcquire(ctx, "k", 5*time.Second)
	if err != nil {
		t.Fatalf("a stranger on one node of three blocked the lock: %v", err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// The refused attempts marked the stranger's value as waited for, so
	// that its release would be announced; nothing else changed it.
	if got := ns.owners(t, lock)[0]; got != "stranger*" {
		t.Fatalf("Release deleted or changed another owner's key: node 0 holds %q, want %q", got, "stranger*")
	}
}

func TestRedlockTokenIsTheLargestCounterAndLowerNodesAreRaisedToIt(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, nil)
	ctx := rlCtx(t)
	lock, fence := r.StorageKeys("k")
	// Counters above the nodes' clocks in microseconds, so that the
	// counters, not the clocks, decide the tokens.
	for i, v := range []uint64{aboveClock + 5, aboveClock + 9, aboveClock + 2} {
		ns.peek[i].Set(ctx, fence, v, 0)
	}
	ns.peek[2].Set(ctx, lock, "stranger", 30*time.Second) // node 2 refuses
	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	if h.Token() != aboveClock+10 {
		t.Fatalf("Token() = %d, want %d (the largest of base+6 and base+10)", h.Token(), aboveClock+10)
	}
	if got := ns.fences(t, fence); got[0] != aboveClock+10 || got[1] != aboveClock+10 || got[2] != aboveClock+2 {
		t.Fatalf("fence counters = %v, want base + [10 10 2]: the lower granting node raised", got)
	}
}

func TestRedlockTokensGrowWhenEveryGrantMissesADifferentNode(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	// Each grant needs both free nodes: a node timeout that a busy machine
	// meets, since the property is about tokens, not time.
	r := ns.redlock(t, &redlock.Options{NodeTimeout: 3 * time.Second})
	ctx := rlCtx(t)
	lock, fence := r.StorageKeys("k")
	// Counters above the clocks make the counters decide the tokens.
	// Without raising the lower counters, this rotation then hands out
	// base+1, base+2, base+2: a stale holder's writes would be as good as
	// the new holder's.
	for _, c := range ns.peek {
		c.Set(ctx, fence, aboveClock, 0)
	}
	var last uint64
	for round := range 9 {
		blocked := ns.peek[round%3]
		blocked.Set(ctx, lock, "stranger", 30*time.Second)
		// A wait, not a single try: the last round's attempt may still
		// be on its way to the node that refused it, land after that
		// round's release and refuse this try; it is given back, and the
		// give-back wakes the waiter.
		h, err := r.TryAcquire(ctx, "k", 10*time.Second)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if h.Token() <= last {
			t.Fatalf("round %d: token %d after %d; tokens must grow", round, h.Token(), last)
		}
		last = h.Token()
		if err := h.Release(ctx); err != nil {
			t.Fatal(err)
		}
		blocked.Del(ctx, lock)
		// Release returns once a majority confirmed it; the next round
		// should not meet this round's lease on the third node.
		waitFor(t, "the lease gone from every node", func() bool {
			for _, c := range ns.peek {
				if c.Exists(ctx, lock).Val() != 0 {
					return false
				}
			}
			return true
		})
	}
}

func TestRedlockReleaseWakesAWaiterOfTheSameProviderAtOnce(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	slow := &redlock.Options{MinRetryBackoff: 5 * time.Second, MaxRetryBackoff: 5 * time.Second}
	r := ns.redlock(t, slow)
	ctx := rlCtx(t)
	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time, 1)
	errs := make(chan error, 1)
	go func() {
		w, err := r.TryAcquire(ctx, "k", 10*time.Second)
		if err != nil {
			errs <- err
			return
		}
		got <- time.Now()
		errs <- w.Release(ctx)
	}()
	time.Sleep(150 * time.Millisecond) // the waiter's first try is refused by then
	released := time.Now()
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		// A few ms on an idle machine; the bound allows for a busy one and
		// stays far below the 5s backoff that would explain a slow grant.
		if d := at.Sub(released); d > 2*time.Second {
			t.Fatalf("the waiter got the lock %s after the release; the backoff is 5s, the wake-up must be prompt", d)
		}
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(3 * time.Second):
		t.Fatal("the waiter was not woken by the release")
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

func TestRedlockTimeoutsAndCancellationAreHonoured(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, nil)
	ctx := rlCtx(t)
	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)

	begin := time.Now()
	if _, err := r.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("timeout 0: %v", err)
	}
	// One attempt: a wait would last until the 30s lease ends.
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("timeout 0 took %s, want one prompt attempt", d)
	}

	begin = time.Now()
	_, err = r.TryAcquire(ctx, "k", 300*time.Millisecond)
	var le *locking.Error
	if !errors.As(err, &le) || le.Timeout != 300*time.Millisecond {
		t.Fatalf("err = %v, want *locking.Error with Timeout 300ms", err)
	}
	// Not before the timeout, and well before the 30s lease ends.
	if d := time.Since(begin); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("a 300ms timeout took %s", d)
	}

	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	begin = time.Now()
	_, err = r.TryAcquire(cctx, "k", 10*time.Second)
	if !errors.Is(err, context.Canceled) || errors.Is(err, locking.ErrNotAcquired) || errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
	// Well before the 10s timeout: the cancellation ended the wait.
	if d := time.Since(begin); d < 100*time.Millisecond || d > 5*time.Second {
		t.Fatalf("cancelled after 100ms, returned after %s", d)
	}
}

func TestRedlockReleaseIsIdempotentAndSafeFromManyGoroutines(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, nil)
	ctx := rlCtx(t)
	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	for range 16 {
		go func() { errs <- h.Release(ctx) }()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	h2, err := r.TryAcquire(ctx, "k", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatalf("a later Release of the old handle = %v, want nil", err)
	}
	if _, err := r.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("the old handle freed the new holder's lock: %v", err)
	}
	_ = h2.Release(ctx)
}

func TestRedlockAfterLostRunsWhenTheMajorityIsLostAndStopUnregisters(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, rlShortLease())
	ctx := rlCtx(t)
	h, err := r.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := h.(locking.LostNotifier)
	if !ok {
		t.Fatal("the Redlock handle does not offer AfterLost: the behavior would watch it with a goroutine per lock")
	}
	ran := make(chan string, 3)
	stopKept := n.AfterLost(func() { ran <- "kept" })
	stopDropped := n.AfterLost(func() { ran <- "dropped" })
	if !stopDropped() {
		t.Fatal("stop before the loss = false, want true")
	}
	lock, _ := r.StorageKeys("k")
	for _, i := range []int{0, 1} { // strangers take the key on a majority
		if err := ns.peek[i].Set(ctx, lock, "stranger", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	<-h.Lost()
	if got := <-ran; got != "kept" {
		t.Fatalf("ran %q, want kept", got)
	}
	if stopKept() {
		t.Fatal("stop after the callback started = true, want false")
	}
	n.AfterLost(func() { ran <- "late" }) // registered after the loss: runs at once
	if got := <-ran; got != "late" {
		t.Fatalf("ran %q, want late", got)
	}
	select {
	case got := <-ran:
		t.Fatalf("%q ran too", got)
	default:
	}
	if err := h.Release(ctx); !errors.Is(err, locking.ErrLockLost) {
		t.Fatalf("Release after the majority went to strangers = %v, want ErrLockLost", err)
	}
}
