package redlock_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// rlDebit is a locked command for the Redlock registration tests.
type rlDebit struct {
	mediator.Command[uint64]
	locking.DistributedLock `lock:"timeout=0"`
	Account                 string
}

func (d rlDebit) LockKey() string { return d.Account }

func TestRedlockAddressAndNodesRegisterTheMajorityProvider(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	ctx := rlCtx(t)
	for name, opt := range map[string]mediator.Option{
		"redlock:// address": redislocks.WithRedisDistributedLocking("redlock://" + strings.Join(ns.addrs, ",")),
		"Options.Nodes":      redislocks.WithRedisDistributedLockingOptions(redlock.Options{Nodes: ns.addrs, KeyPrefix: "nodes:"}),
		"node list":          redlock.WithRedlockDistributedLocking(strings.Join(ns.addrs, ","), func(o *redlock.Options) { o.KeyPrefix = "list:" }),
		"node list, scheme":  redlock.WithRedlockDistributedLocking(redlock.Scheme+strings.Join(ns.addrs, ","), func(o *redlock.Options) { o.KeyPrefix = "scheme:" }),
		"redlock Options":    redlock.WithRedlockDistributedLockingOptions(redlock.Options{Nodes: ns.addrs, KeyPrefix: "rlnodes:"}),
	} {
		t.Run(name, func(t *testing.T) {
			var runs atomic.Int32
			m, err := mediator.New(
				opt,
				locking.WithDistributedLocking[rlDebit, uint64](),
				mediator.WithHandler[rlDebit, uint64](func(ctx context.Context, _ rlDebit) (uint64, error) {
					runs.Add(1)
					h, _ := locking.FromContext(ctx)
					return h.Token(), nil
				}),
			)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			var lp locking.Provider
			if err := m.Invoke(func(p locking.Provider) { lp = p }); err != nil {
				t.Fatal(err)
			}
			r, ok := lp.(*redlock.Provider)
			if !ok || r.Nodes() != 3 {
				t.Fatalf("provider = %T, want *redlock.Provider on 3 nodes", lp)
			}
			first, err := mediator.Send(ctx, m, rlDebit{Account: "a"})
			if err != nil {
				t.Fatal(err)
			}
			second, err := mediator.Send(ctx, m, rlDebit{Account: "a"})
			if err != nil || second <= first {
				t.Fatalf("tokens %d then %d (%v), want growing", first, second, err)
			}
			if runs.Load() != 2 {
				t.Fatalf("handler ran %d times, want 2", runs.Load())
			}
		})
	}
}

func TestRedlockSendWithoutAMajorityIsUnavailableAndNeverRunsTheHandler(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	ctx := rlCtx(t)
	var runs atomic.Int32
	m, err := mediator.New(
		redislocks.WithRedisDistributedLocking("redlock://"+strings.Join(ns.addrs, ","), func(o *redlock.Options) {
			// A node timeout that live nodes meet on a busy machine: the
			// test is about a majority down, not about slow nodes.
			o.TTL, o.NodeTimeout = 5*time.Second, time.Second
		}),
		locking.WithDistributedLocking[rlDebit, uint64](),
		mediator.WithHandler[rlDebit, uint64](func(context.Context, rlDebit) (uint64, error) {
			runs.Add(1)
			return 0, nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	ns.srvs[0].Kill()
	if _, err := mediator.Send(ctx, m, rlDebit{Account: "a"}); err != nil {
		t.Fatalf("one node down: %v", err)
	}
	ns.srvs[1].Kill()
	for range 5 {
		_, err := mediator.Send(ctx, m, rlDebit{Account: "a"})
		if !errors.Is(err, locking.ErrUnavailable) || errors.Is(err, locking.ErrNotAcquired) {
			t.Fatalf("two nodes down: Send = %v, want ErrUnavailable", err)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want once: never without a majority", runs.Load())
	}
}

func TestRedlockBuildFailsWithoutAMajorityOfNodes(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	ns.srvs[0].Kill()
	ns.srvs[2].Kill()
	begin := time.Now()
	_, err := mediator.New(
		redislocks.WithRedisDistributedLocking("redlock://"+strings.Join(ns.addrs, ","), func(o *redlock.Options) {
			o.DialTimeout = 500 * time.Millisecond
		}),
		locking.WithDistributedLocking[rlDebit, uint64](),
		mediator.WithHandler[rlDebit, uint64](func(context.Context, rlDebit) (uint64, error) { return 0, nil }),
	)
	if !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("Build = %v, want ErrUnavailable", err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("Build took %s to report the missing majority", d)
	}
}

func TestRedlockBadNodesAndOptionsFailBuildWithTheReason(t *testing.T) {
	for name, tc := range map[string]struct {
		opt  mediator.Option
		want string
	}{
		"empty redlock address":  {redislocks.WithRedisDistributedLocking("redlock://"), "no node"},
		"no nodes at all":        {redlock.WithRedlockDistributedLocking(""), "no Redlock nodes"},
		"no nodes in Options":    {redlock.WithRedlockDistributedLockingOptions(redlock.Options{}), "no Redlock nodes"},
		"empty node, own option": {redlock.WithRedlockDistributedLocking("127.0.0.1:1,,127.0.0.1:2"), "empty Redlock node"},
		"empty node in the list": {redislocks.WithRedisDistributedLocking("redlock://127.0.0.1:1,,127.0.0.1:2"), "empty Redlock node"},
		"sentinel as a node":     {redislocks.WithRedisDistributedLockingOptions(redlock.Options{Nodes: []string{"master:m,127.0.0.1:1"}}), "one standalone master"},
		"node without a port":    {redislocks.WithRedisDistributedLockingOptions(redlock.Options{Nodes: []string{"localhost"}}), "host:port"},
		"node timeout past the lease": {redislocks.WithRedisDistributedLocking("redlock://127.0.0.1:1", func(o *redlock.Options) {
			o.TTL, o.NodeTimeout = time.Second, time.Second
		}), "NodeTimeout"},
		"refresh too late to extend": {redislocks.WithRedisDistributedLocking("redlock://127.0.0.1:1", func(o *redlock.Options) {
			o.TTL, o.RefreshInterval, o.NodeTimeout = time.Second, 900*time.Millisecond, 100*time.Millisecond
		}), "RefreshInterval"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mediator.New(tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := redlock.New(nil, nil); err == nil {
		t.Fatal("New with no node succeeded")
	}
}

func TestRedlockLosingTheMajorityCancelsTheHandlerAndSendReportsLockLost(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	ctx := rlCtx(t)
	entered := make(chan struct{})
	m, err := mediator.New(
		redislocks.WithRedisDistributedLockingOptions(redlock.Options{
			Nodes: ns.addrs, TTL: time.Second, NodeTimeout: 250 * time.Millisecond,
		}),
		locking.WithDistributedLocking[rlDebit, uint64](),
		mediator.WithHandler[rlDebit, uint64](func(ctx context.Context, _ rlDebit) (uint64, error) {
			close(entered)
			<-ctx.Done() // runs until the lock is lost
			if !errors.Is(context.Cause(ctx), locking.ErrLockLost) {
				return 0, fmt.Errorf("handler ctx ended with %v, want ErrLockLost", context.Cause(ctx))
			}
			return 0, nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	errs := make(chan error, 1)
	go func() {
		_, err := mediator.Send(ctx, m, rlDebit{Account: "a"})
		errs <- err
	}()
	<-entered
	ns.srvs[0].Kill()
	ns.srvs[1].Kill()
	killed := time.Now()
	select {
	case err := <-errs:
		if !errors.Is(err, locking.ErrLockLost) {
			t.Fatalf("Send = %v, want ErrLockLost", err)
		}
		// Lost closes when the last extension's validity (TTL - drift) ends;
		// the handler's return and Send's report take a little more, and a
		// busy machine's timers more still: the bound is generous, but
		// well below the 5s after which the handler counts as never told.
		if d := time.Since(killed); d > 3*time.Second {
			t.Fatalf("the loss was reported %s after the majority went down, want within about the 1s lease", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still runs 5s after the majority went down")
	}
}

func TestRedlockFromDIUsesTheAppsClientsAndLeavesThemOpen(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	ctx := rlCtx(t)
	clients := make(redlock.Clients, len(ns.addrs))
	for i, a := range ns.addrs {
		clients[i] = rlClient(t, a)
	}
	m, err := mediator.New(
		mediator.Provide(func() redlock.Clients { return clients }),
		redlock.WithRedlockDistributedLockingFromDI(func(o *redlock.Options) { o.KeyPrefix = "di:" }),
		locking.WithDistributedLocking[rlDebit, uint64](),
		mediator.WithHandler[rlDebit, uint64](func(ctx context.Context, _ rlDebit) (uint64, error) {
			h, _ := locking.FromContext(ctx)
			return h.Token(), nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	var lp locking.Provider
	if err := m.Invoke(func(p locking.Provider) { lp = p }); err != nil {
		t.Fatal(err)
	}
	if r, ok := lp.(*redlock.Provider); !ok || r.Nodes() != 3 {
		t.Fatalf("provider = %T, want *redis.Redlock on the 3 clients", lp)
	}
	tok, err := mediator.Send(ctx, m, rlDebit{Account: "a"})
	if err != nil || tok == 0 {
		t.Fatalf("Send = %d, %v; want a token", tok, err)
	}
	// The lock went through the app's clients, with the prefix it was given.
	if got := ns.fences(t, "di:{rlDebit:a}:fence"); countAtLeast(got, tok) < 2 {
		t.Fatalf("fence counters %v under di:{rlDebit:a}:fence, want the token %d on a majority", got, tok)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("client %d was closed by the mediator: %v", i, err)
		}
	}
}

func TestRedlockFromDIFailsBuildWithoutClientsOrAMajority(t *testing.T) {
	rlNoLeaks(t)
	t.Run("no clients in the container", func(t *testing.T) {
		_, err := mediator.New(redlock.WithRedlockDistributedLockingFromDI())
		if err == nil || !strings.Contains(err.Error(), "redlock.Clients") {
			t.Fatalf("Build = %v, want a missing redlock.Clients error", err)
		}
	})
	t.Run("an empty list", func(t *testing.T) {
		_, err := mediator.New(
			mediator.Provide(func() redlock.Clients { return nil }),
			redlock.WithRedlockDistributedLockingFromDI(),
		)
		if !errors.Is(err, redlock.ErrInvalidOptions) {
			t.Fatalf("Build = %v, want ErrInvalidOptions", err)
		}
	})
	t.Run("two of three nodes down", func(t *testing.T) {
		ns := startRedlockNodes(t, 3)
		clients := redlock.Clients{rlClient(t, ns.addrs[0]), rlClient(t, ns.addrs[1]), rlClient(t, ns.addrs[2])}
		ns.srvs[0].Kill()
		ns.srvs[2].Kill()
		begin := time.Now()
		_, err := mediator.New(
			mediator.Provide(func() redlock.Clients { return clients }),
			redlock.WithRedlockDistributedLockingFromDI(func(o *redlock.Options) { o.DialTimeout = 300 * time.Millisecond }),
		)
		if !errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("Build = %v, want ErrUnavailable", err)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Fatalf("Build took %s with a 300ms dial timeout", d)
		}
	})
	for name, configure := range map[string]func(*redlock.Options){
		"Nodes":      func(o *redlock.Options) { o.Nodes = []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"} },
		"redlock://": func(o *redlock.Options) { o.Addr = "redlock://127.0.0.1:1,127.0.0.1:2,127.0.0.1:3" },
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mediator.New(redlock.WithRedlockDistributedLockingFromDI(configure))
			if !errors.Is(err, redlock.ErrInvalidOptions) || !strings.Contains(err.Error(), "container") {
				t.Fatalf("Build = %v, want ErrInvalidOptions saying the nodes come from the container", err)
			}
		})
	}
}
