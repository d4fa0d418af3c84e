package etcd_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/turbomediator/turbomediator-go/providers/etcd"
	"github.com/turbomediator/turbomediator-go/providers/etcd/etcdtest"
)

// testOptions give the providers under test a short lease, so a lost lock
// shows within seconds, and short timeouts, so an unreachable etcd is
// reported within the conformance kit's slack.
func testOptions() *etcd.Options {
	return &etcd.Options{
		TTL:            3 * time.Second,
		DialTimeout:    time.Second,
		RequestTimeout: time.Second,
		ReleaseTimeout: 2 * time.Second,
	}
}

// leakOptions lists goroutines of gRPC that may outlive a closed client for
// a bounded time.
var leakOptions = []goleak.Option{
	goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	goleak.IgnoreTopFunction("google.golang.org/grpc.(*addrConn).resetTransport"),
}

// noLeaks checks, after every other cleanup of the test, that no goroutine
// is left behind.
func noLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t, leakOptions...) })
}

// newClient returns an etcd client for endpoints, closed at cleanup.
func newClient(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newProvider returns a provider on a client of its own, both closed at
// cleanup (the provider first).
func newProvider(t testing.TB, opts *etcd.Options, endpoints ...string) *etcd.Provider {
	t.Helper()
	p, err := etcd.New(newClient(t, endpoints...), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func startOne(t testing.TB) *etcdtest.Cluster {
	t.Helper()
	return etcdtest.Start(t)
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// etcdtest3 starts a 3-member cluster.
func etcdtest3(t testing.TB) *etcdtest.Cluster {
	t.Helper()
	return etcdtest.StartCluster(t, 3)
}
