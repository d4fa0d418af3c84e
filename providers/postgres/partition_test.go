package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
	"github.com/turbomediator/turbomediator-go/providers/postgres/pgtest"
)

// partitionEnv turns on TestSilentPartitionLostBeforeTheServerFreesTheLock
// (make chaos sets it): it needs root and network namespaces, and takes
// about 15 seconds.
const partitionEnv = "PG_PARTITION"

// silentPath is a network path between this process (in its own network
// namespace) and a namespace of the test's: a veth pair on a /30 subnet.
// cut drops every packet both ways without a word to either end — no RST,
// no ICMP error: a blackhole route on each side.
type silentPath struct {
	t              *testing.T
	ns             string // the namespace the server runs in
	server, client string // the addresses on the namespace's side and ours
}

// newSilentPath sets up the namespace and the veth pair, removed at cleanup
// (even when the test fails); it skips the test when they cannot be made.
func newSilentPath(t *testing.T) *silentPath {
	t.Helper()
	skip := func(why string) {
		t.Helper()
		t.Skip("\n" + strings.Repeat("!", 78) + "\n!!! SKIPPED: " + why + "\n" + strings.Repeat("!", 78))
	}
	if os.Geteuid() != 0 {
		skip("the silent partition needs root (ip netns, veth pairs, routes)")
	}
	// Names and a subnet of this process: concurrent runs do not clash.
	id := os.Getpid() % 1000000
	sp := &silentPath{
		t:      t,
		ns:     fmt.Sprintf("tmpg%d", id),
		server: fmt.Sprintf("10.213.%d.%d", id%256, 4*(id/256%64)+1),
		client: fmt.Sprintf("10.213.%d.%d", id%256, 4*(id/256%64)+2),
	}
	ours, theirs := fmt.Sprintf("tmpg%dr", id), fmt.Sprintf("tmpg%dn", id)
	if out, err := exec.Command("ip", "netns", "add", sp.ns).CombinedOutput(); err != nil {
		skip(fmt.Sprintf("ip netns add failed (%v: %s)", err, strings.TrimSpace(string(out))))
	}
	t.Cleanup(func() { sp.ip("", "netns", "del", sp.ns) })
	sp.ip("", "link", "add", ours, "type", "veth", "peer", "name", theirs)
	// Deleting the namespace deletes its end, and with it ours; this covers
	// a failure before the move.
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", ours).Run() })
	sp.ip("", "link", "set", theirs, "netns", sp.ns)
	sp.ip("", "addr", "add", sp.client+"/30", "dev", ours)
	sp.ip("", "link", "set", ours, "up")
	sp.ip(sp.ns, "addr", "add", sp.server+"/30", "dev", theirs)
	sp.ip(sp.ns, "link", "set", theirs, "up")
	sp.ip(sp.ns, "link", "set", "lo", "up")
	return sp
}

// ip runs the ip command, in namespace ns when it is not "", and fails the
// test when it fails.
func (sp *silentPath) ip(ns string, args ...string) {
	sp.t.Helper()
	if ns != "" {
		args = append([]string{"netns", "exec", ns, "ip"}, args...)
	}
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		sp.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// unacked counts the server's TCP sessions with unacknowledged data.
func (sp *silentPath) unacked() int {
	sp.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", sp.ns, "ss", "-tnH", "state", "established").CombinedOutput()
	if err != nil {
		sp.t.Fatalf("ss: %v: %s", err, out)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[1] != "0" {
			n++
		}
	}
	return n
}

// cut drops every packet between the two ends from now on, silently, and
// registers the repair at cleanup.
func (sp *silentPath) cut() {
	sp.t.Helper()
	sp.ip("", "route", "add", "blackhole", sp.server+"/32")
	sp.t.Cleanup(func() { _ = exec.Command("ip", "route", "del", "blackhole", sp.server+"/32").Run() })
	sp.ip(sp.ns, "route", "add", "blackhole", sp.client+"/32")
}

// TestSilentPartitionLostBeforeTheServerFreesTheLock: the network path
// between holders and the server goes silent (every packet dropped, no RST,
// no ICMP). Each holder's Lost must close before the server, by its own
// keepalives, ends the holder's session and grants the lock to a waiter
// that reaches it by another path (the unix socket) — whatever the phase of
// the two sides' keepalive probes at the cut, so the holders took their
// locks at instants spread over 2×KeepAlive, the last one right before the
// cut. Neither end notices the cut within a second (it is silent), and the
// waiters' tokens are larger.
func TestSilentPartitionLostBeforeTheServerFreesTheLock(t *testing.T) {
	if os.Getenv(partitionEnv) == "" {
		t.Skip("set " + partitionEnv + "=1 to run it (make chaos does): it needs root and network namespaces")
	}
	sp := newSilentPath(t)
	noLeaks(t)
	cluster := pgtest.StartConfig(t, pgtest.Config{NetNS: sp.ns, ListenAddr: sp.server, Socket: true})
	const keepAlive = 2 * time.Second // the least Options.KeepAlive allows
	const holders = 9
	holder := newProvider(t, cluster.DSN("postgres"), &postgres.Options{KeepAlive: keepAlive, MaxConns: holders})
	waiter := newProvider(t, cluster.SocketDSN("postgres"), &postgres.Options{MaxConns: holders})

	type run struct {
		key        string
		h          locking.Handle
		lost       chan time.Time
		granted    chan time.Time
		waiterErr  chan error
		waiterHold chan locking.Handle
	}
	runs := make([]*run, holders)
	// The holders take their locks at instants spread over 2×KeepAlive
	// (more than the keepalive idle times of the server and the provider):
	// the cut finds the probes of the two ends in every phase. The last one
	// takes its lock right before the cut, which then finds the server's
	// answer unacknowledged (the client delays its ACK): the server
	// retransmits instead of probing.
	step := 2 * keepAlive / (holders - 1)
	tick := time.NewTicker(step)
	defer tick.Stop()
	for i := range runs {
		if i > 0 {
			<-tick.C
		}
		r := &run{key: fmt.Sprintf("k%d", i), lost: make(chan time.Time, 1), granted: make(chan time.Time, 1),
			waiterErr: make(chan error, 1), waiterHold: make(chan locking.Handle, 1)}
		runs[i] = r
		if i == holders-1 {
			// Every earlier waiter waits in the server's queue.
			waitForWaiters(t, cluster.SocketDSN("postgres"), holders-1)
		}
		r.h = acquire(t, holder, r.key, 0)
		go func() {
			<-r.h.Lost()
			r.lost <- time.Now()
		}()
		// The waiter reaches the server by the unix socket, which the cut
		// leaves alone.
		go func() {
			h, err := waiter.TryAcquire(context.Background(), r.key, time.Minute)
			if err != nil {
				r.waiterErr <- err
				return
			}
			r.granted <- time.Now()
			r.waiterHold <- h
		}()
	}
	cut := time.Now()
	sp.cut()
	t.Logf("at the cut, %d of the server's %d sessions with the holders had unacknowledged data", sp.unacked(), holders)
	for _, r := range runs {
		select {
		case <-r.lost:
			t.Fatalf("%s: Lost closed before the cut", r.key)
		default:
		}
	}
	waitForWaiters(t, cluster.SocketDSN("postgres"), holders)
	var lostAfter, grantedAfter, margins []time.Duration
	timeout := time.After(30 * time.Second)
	for _, r := range runs {
		var lostAt, grantedAt time.Time
		var waiterTok uint64
		for lostAt.IsZero() || grantedAt.IsZero() {
			select {
			case lostAt = <-r.lost:
			case grantedAt = <-r.granted:
				wh := <-r.waiterHold
				waiterTok = wh.Token()
				defer release(t, wh)
			case err := <-r.waiterErr:
				t.Fatalf("%s: the waiter's TryAcquire: %v", r.key, err)
			case <-timeout:
				t.Fatalf("%s: 30s after the cut, Lost closed at %v and the waiter was granted at %v", r.key, lostAt, grantedAt)
			}
		}
		t.Logf("%s: Lost %s after the cut, the waiter granted %s after it", r.key, lostAt.Sub(cut).Round(time.Millisecond), grantedAt.Sub(cut).Round(time.Millisecond))
		if !lostAt.Before(grantedAt) {
			t.Errorf("%s: the holder learnt of its loss %s after the server granted its lock to another (Lost %s after the cut, granted %s after it)",
				r.key, lostAt.Sub(grantedAt), lostAt.Sub(cut), grantedAt.Sub(cut))
		}
		// A loud cut (RST, ICMP, a local error) would end them at once.
		if d := lostAt.Sub(cut); d < time.Second {
			t.Errorf("%s: Lost %s after the cut: the cut was not silent", r.key, d)
		}
		if d := grantedAt.Sub(cut); d < time.Second {
			t.Errorf("%s: granted %s after the cut: the server's session ended at once", r.key, d)
		}
		if waiterTok <= r.h.Token() {
			t.Errorf("%s: the waiter's token %d is not above the lost holder's %d", r.key, waiterTok, r.h.Token())
		}
		if err := r.h.Release(context.Background()); !errors.Is(err, locking.ErrLockLost) {
			t.Errorf("%s: Release of the lost lock = %v, want ErrLockLost", r.key, err)
		}
		lostAfter = append(lostAfter, lostAt.Sub(cut))
		grantedAfter = append(grantedAfter, grantedAt.Sub(cut))
		margins = append(margins, grantedAt.Sub(lostAt))
	}
	t.Logf("KeepAlive %s, %d holders: Lost after %s, the server freed (a waiter granted) after %s, margins %s",
		keepAlive, holders, spread(lostAfter), spread(grantedAfter), spread(margins))
}

// spread renders durations as min/median/max.
func spread(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }
	return fmt.Sprintf("%s/%s/%s (min/median/max)", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}

// waitForWaiters waits until n sessions wait for advisory locks.
func waitForWaiters(t *testing.T, dsn string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d waiters in the server's queue", n), func() bool { return serverWaiters(t, dsn) >= n })
}
