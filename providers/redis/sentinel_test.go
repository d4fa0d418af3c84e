package redis_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// TestAMasterNameAddressLocksThroughSentinel registers the provider with
// "master:NAME,sentinel": the client asks the Sentinel where the master is,
// and the locks land on that master.
func TestAMasterNameAddressLocksThroughSentinel(t *testing.T) {
	noLeaks(t)
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, "mymaster", master)
	ctx := ctxT(t)
	m := build(t,
		redislocks.WithRedisDistributedLocking("master:mymaster,"+sentinel.Addr()),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](tokenHandler),
	)
	var last uint64
	for range 3 {
		tok, err := mediator.Send(ctx, m, withdraw{Account: "7"})
		if err != nil || tok <= last {
			t.Fatalf("Send = %d, %v; want a token above %d", tok, err, last)
		}
		last = tok
	}
	_, fence := providerOf(t, m).StorageKeys("withdraw:7")
	if got, err := redistest.Command(master.Addr(), "GET", fence); err != nil || got != strconv.FormatUint(last, 10) {
		t.Fatalf("the master's %s = %q, %v; want the last token %d", fence, got, err, last)
	}
}

// TestASentinelFailoverMovesTheLocksToThePromotedReplica freezes the master
// under a Sentinel-registered provider: while the Sentinel promotes the
// replica, a Send waits within its lock timeout or fails with
// ErrUnavailable — never as contention, never running the handler; then
// Sends succeed on the new master, and the fencing tokens go on from the
// replicated counter. Replication is asynchronous: what the master had not
// passed on when it stopped is lost, which is why the test waits for the
// replica to have the writes first (docs/reliability.md says what that means
// for a lock).
func TestASentinelFailoverMovesTheLocksToThePromotedReplica(t *testing.T) {
	noLeaks(t)
	// No wait for more replicas before the first (diskless) sync: 5s by
	// default.
	master := redistest.Start(t, redistest.WithArgs("--repl-diskless-sync-delay", "0"))
	replica := redistest.Start(t, redistest.WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(master.Port())))
	waitFor(t, "the replica to sync", func() bool {
		info, err := redistest.Command(replica.Addr(), "INFO", "replication")
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	sentinel := redistest.StartSentinelDownAfter(t, "mymaster", master, 300*time.Millisecond)
	ctx := ctxT(t)
	var runs atomic.Int32
	m := build(t,
		redislocks.WithRedisDistributedLocking("master:mymaster,"+sentinel.Addr(), func(o *redislocks.Options) {
			o.DialTimeout = 300 * time.Millisecond
		}),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(ctx context.Context, w withdraw) (uint64, error) {
			runs.Add(1)
			return tokenHandler(ctx, w)
		}),
	)
	var last uint64
	for range 3 {
		tok, err := mediator.Send(ctx, m, withdraw{Account: "7"})
		if err != nil || tok <= last {
			t.Fatalf("Send = %d, %v; want a token above %d", tok, err, last)
		}
		last = tok
	}
	// The replica has the counter before the master stops (WAIT would not
	// tell: it counts the acknowledgements of the asking connection's own
	// writes, and a replica fresh from a diskless sync streams nothing until
	// its first acknowledgement, up to a second later).
	_, fence := providerOf(t, m).StorageKeys("withdraw:7")
	waitFor(t, "the replica to have the fence counter", func() bool {
		got, err := redistest.Command(replica.Addr(), "GET", fence)
		return err == nil && got == strconv.FormatUint(last, 10)
	})

	// The master stops answering (SIGSTOP) rather than exiting, so that its
	// port stays taken: a freed port could be bound by a redis-server of
	// another test package, and the client, which dials the old address
	// until the Sentinel announces the switch, would lock there.
	master.Pause()
	defer master.Resume()
	killed := time.Now()
	promoted := "127.0.0.1\n" + strconv.Itoa(replica.Port())
	unavailable := 0
	var tok uint64
	for {
		if time.Since(killed) > 20*time.Second {
			t.Fatalf("no successful Send 20s after the master froze (%d ErrUnavailable)", unavailable)
		}
		before := runs.Load()
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		got, err := mediator.Send(sctx, m, withdraw{Account: "7"})
		cancel()
		if err == nil {
			tok = got
			break
		}
		if !errors.Is(err, locking.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send during the failover = %v, want ErrUnavailable", err)
		}
		if runs.Load() != before {
			t.Fatal("the handler ran although the lock was not had")
		}
		unavailable++
		time.Sleep(50 * time.Millisecond)
	}
	if addr, err := redistest.Command(sentinel.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"); err != nil || addr != promoted {
		t.Fatalf("the Sentinel reports the master at %q, %v; want the replica %q", addr, err, promoted)
	}
	if tok <= last {
		t.Fatalf("first token after the failover = %d, want more than %d", tok, last)
	}
	if got, err := redistest.Command(replica.Addr(), "GET", fence); err != nil || got != strconv.FormatUint(tok, 10) {
		t.Fatalf("the promoted replica's %s = %q, %v; want %d", fence, got, err, tok)
	}
	t.Logf("failover: first successful Send %s after the master froze, %d unavailable before it", time.Since(killed).Round(time.Millisecond), unavailable)
}
