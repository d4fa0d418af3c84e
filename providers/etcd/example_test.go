package etcd_test

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/etcd"
)

// Locks on an etcd cluster: the provider opens its own client to the
// endpoints and closes it with the mediator.
func ExampleWithEtcdDistributedLocking() {
	m, err := mediator.New(
		etcd.WithEtcdDistributedLocking("http://127.0.0.1:2379"),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(ctx context.Context, w withdraw) (uint64, error) {
			h, _ := locking.FromContext(ctx)
			return h.Token(), nil // the entry's create revision: guard writes with it
		}),
	)
	if err != nil {
		fmt.Println(err) // an unreachable cluster fails Build with locking.ErrUnavailable
		return
	}
	defer m.Close(context.Background())
	token, err := mediator.Send(context.Background(), m, withdraw{Account: "42"})
	fmt.Println(token, err)
}

// Locks on the client the application already has; the provider leaves it
// open.
func ExampleWithEtcdDistributedLockingFromDI() {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:2379"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	_, _ = mediator.New(
		mediator.Provide(func() *clientv3.Client { return cli }),
		etcd.WithEtcdDistributedLockingFromDI(func(o *etcd.Options) {
			o.TTL = 10 * time.Second
			o.KeyPrefix = "myapp/locks/"
		}),
	)
}

// Who holds a lock, from any process on the same cluster: the holder's
// instance and message type, its token, how long it has held the lock and
// what is left of its lease.
func ExampleProvider_Inspect() {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:2379"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	p, err := etcd.New(cli, &etcd.Options{Instance: "ops-console"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	info, err := p.Inspect(context.Background(), "withdraw:42")
	if err != nil {
		fmt.Println(err) // matches locking.ErrUnavailable when etcd does not answer
		return
	}
	if info.Held {
		fmt.Printf("%s held by %s (%s) for %s, token %d, lease left %s\n",
			info.Key, info.Holder.Instance, info.Holder.MessageType, info.HeldFor, info.Token, info.LeaseLeft)
	}
}
