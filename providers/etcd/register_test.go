package etcd_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/etcd"
)

// withdraw is a locked command: one lock per account.
type withdraw struct {
	mediator.Command[uint64]
	locking.DistributedLock `lock:"timeout=5s"`
	Account                 string
}

func (w withdraw) LockKey() string { return w.Account }

// tokenHandler answers with the fencing token of the lock it runs under.
func tokenHandler(ctx context.Context, _ withdraw) (uint64, error) {
	h, ok := locking.FromContext(ctx)
	if !ok {
		return 0, errors.New("handler ran without a lock")
	}
	return h.Token(), nil
}

func TestWithEtcdDistributedLockingLocksSendsAndCloseRevokesTheLease(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	admin := newClient(t, ep)
	ctx := ctxT(t)
	var held int64
	m, err := mediator.New(
		etcd.WithEtcdDistributedLocking(ep),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(ctx context.Context, w withdraw) (uint64, error) {
			resp, err := admin.Get(ctx, etcd.DefaultKeyPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil {
				return 0, err
			}
			held = resp.Count
			return tokenHandler(ctx, w)
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for range 3 {
		tok, err := mediator.Send(ctx, m, withdraw{Account: "42"})
		if err != nil {
			t.Fatal(err)
		}
		if tok <= last {
			t.Fatalf("token %d after %d", tok, last)
		}
		last = tok
		if held != 1 {
			t.Fatalf("%d keys under the prefix while the handler ran, want its one queue entry", held)
		}
	}
	leases, err := admin.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases.Leases) != 1 {
		t.Fatalf("%d leases while the mediator is open, want its one session", len(leases.Leases))
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if leases, _ = admin.Leases(ctx); len(leases.Leases) != 0 {
		t.Fatalf("%d leases after Close, want the session revoked", len(leases.Leases))
	}
}

func TestUnreachableEndpointsFailBuildWithErrUnavailable(t *testing.T) {
	noLeaks(t)
	start := time.Now()
	_, err := mediator.New(
		etcd.WithEtcdDistributedLockingOptions(etcd.Options{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: 500 * time.Millisecond}),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](tokenHandler),
	)
	if !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("Build: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Build took %s with DialTimeout 500ms", d)
	}
}

func TestInvalidOptionsFailBuild(t *testing.T) {
	for name, opt := range map[string]mediator.Option{
		"no endpoints":     etcd.WithEtcdDistributedLocking(),
		"empty endpoint":   etcd.WithEtcdDistributedLocking("127.0.0.1:2379", ""),
		"TTL below 1s":     etcd.WithEtcdDistributedLockingOptions(etcd.Options{Endpoints: []string{"x:1"}, TTL: 500 * time.Millisecond}),
		"TTL not seconds":  etcd.WithEtcdDistributedLockingOptions(etcd.Options{Endpoints: []string{"x:1"}, TTL: 1500 * time.Millisecond}),
		"negative timeout": etcd.WithEtcdDistributedLockingFromDI(func(o *etcd.Options) { o.RequestTimeout = -time.Second }),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mediator.New(opt)
			if !errors.Is(err, etcd.ErrInvalidOptions) {
				t.Fatalf("Build: %v, want ErrInvalidOptions", err)
			}
		})
	}
	if _, err := etcd.New(nil, nil); !errors.Is(err, etcd.ErrInvalidOptions) {
		t.Fatalf("New(nil): %v", err)
	}
}

func TestFromDIUsesTheAppsClientAndLeavesItOpen(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	cli := newClient(t, c.Members[0].Endpoint())
	ctx := ctxT(t)
	m, err := mediator.New(
		mediator.Provide(func() *clientv3.Client { return cli }),
		etcd.WithEtcdDistributedLockingFromDI(func(o *etcd.Options) { o.KeyPrefix = "app/locks" }),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(ctx context.Context, w withdraw) (uint64, error) {
			resp, err := cli.Get(ctx, "app/locks/withdraw:42/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil || resp.Count != 1 {
				return 0, errors.New("no queue entry under the configured prefix")
			}
			return tokenHandler(ctx, w)
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mediator.Send(ctx, m, withdraw{Account: "42"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(ctx, "x"); err != nil {
		t.Fatalf("the app's client after the mediator closed: %v", err)
	}
}

// TestDeletedEntryCancelsTheHandlerWithErrLockLost deletes the holder's
// queue entry (an operator, or etcd expiring the lease) while the handler
// runs: its context is cancelled with cause ErrLockLost and Send reports it.
func TestDeletedEntryCancelsTheHandlerWithErrLockLost(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	admin := newClient(t, ep)
	ctx := ctxT(t)
	running := make(chan struct{})
	var cause error
	m, err := mediator.New(
		etcd.WithEtcdDistributedLockingOptions(etcd.Options{Endpoints: []string{ep}, TTL: 3 * time.Second}),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(ctx context.Context, w withdraw) (uint64, error) {
			close(running)
			select {
			case <-ctx.Done():
				cause = context.Cause(ctx)
				return 0, ctx.Err()
			case <-time.After(time.Minute):
				return 0, errors.New("the handler's context was not cancelled")
			}
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	done := make(chan error, 1)
	go func() {
		_, err := mediator.Send(ctx, m, withdraw{Account: "42"})
		done <- err
	}()
	<-running
	if _, err := admin.Delete(ctx, etcd.DefaultKeyPrefix+"withdraw:42/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	err = <-done
	if !errors.Is(err, locking.ErrLockLost) {
		t.Fatalf("Send: %v, want ErrLockLost", err)
	}
	if !errors.Is(cause, locking.ErrLockLost) {
		t.Fatalf("handler's context cause: %v, want ErrLockLost", cause)
	}
	if !strings.Contains(err.Error(), "42") {
		t.Logf("Send's error does not name the key: %v", err)
	}
}
