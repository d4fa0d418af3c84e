package redisstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/behaviors/idempotency"
	"github.com/turbomediator/turbomediator-go/behaviors/idempotency/redisstore"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Transfer struct {
	mediator.Command[Result]
	RequestKey string
	From, To   string
	Cents      int64
}

func (c Transfer) IdempotencyKey() string { return c.RequestKey }

type Result struct{ Seq int64 }

// instance is one process's mediator: its own Redis client, one shared
// counter standing for the effect.
func instance(t *testing.T, addr string, applied *atomic.Int64, gate <-chan struct{}) *mediator.Mediator {
	t.Helper()
	client := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { client.Close() })
	m, err := mediator.New(
		idempotency.WithStore(redisstore.New(client, nil)),
		idempotency.WithIdempotency[Transfer, Result](func(o *idempotency.Options) { o.TTL = time.Hour }),
		mediator.WithHandler[Transfer, Result](mediator.HandlerFunc[Transfer, Result](func(ctx context.Context, c Transfer) (Result, error) {
			if gate != nil {
				<-gate
			}
			return Result{Seq: applied.Add(1)}, nil
		})),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// TestTwoInstancesShareKeys: the first request through instance a, its
// retry through instance b: b answers a's response and applies nothing; a
// different request under the key is a conflict on b too; the record
// expires with the TTL.
func TestTwoInstancesShareKeys(t *testing.T) {
	srv := redistest.Start(t)
	var applied atomic.Int64
	a, b := instance(t, srv.Addr(), &applied, nil), instance(t, srv.Addr(), &applied, nil)
	ctx := context.Background()
	cmd := Transfer{RequestKey: "k", From: "x", To: "y", Cents: 5}
	first, err := mediator.Send(ctx, a, cmd)
	if err != nil {
		t.Fatal(err)
	}
	var rep idempotency.Report
	again, err := mediator.Send(idempotency.WithReport(ctx, &rep), b, cmd)
	if err != nil || again != first || !rep.Replayed || applied.Load() != 1 {
		t.Fatalf("retry on the other instance: %+v, %v, replayed %v, applied %d", again, err, rep.Replayed, applied.Load())
	}
	cmd.Cents = 6
	if _, err := mediator.Send(ctx, b, cmd); !errors.Is(err, idempotency.ErrKeyReused) {
		t.Fatalf("other request, same key: %v", err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ttl, err := rdb.PTTL(ctx, redisstore.DefaultKeyPrefix+"k").Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("the record's TTL is %s (%v), want about 1h", ttl, err)
	}
}

// TestConcurrentDuplicatesAcrossInstancesApplyOnce: 40 copies of one
// request, half through each instance, at once: one runs, the others are
// refused as in progress, and after it every copy gets its answer.
func TestConcurrentDuplicatesAcrossInstancesApplyOnce(t *testing.T) {
	srv := redistest.Start(t)
	var applied atomic.Int64
	gate := make(chan struct{})
	ms := []*mediator.Mediator{instance(t, srv.Addr(), &applied, gate), instance(t, srv.Addr(), &applied, gate)}
	cmd := Transfer{RequestKey: "dup", From: "x", To: "y", Cents: 5}
	errs := make(chan error, 40)
	for i := range 40 {
		go func() {
			_, err := mediator.Send(context.Background(), ms[i%2], cmd)
			errs <- err
		}()
	}
	// 39 refusals come without waiting for the gate; then let the one run.
	for range 39 {
		if err := <-errs; !errors.Is(err, idempotency.ErrInProgress) {
			t.Fatalf("a duplicate in flight: %v, want ErrInProgress", err)
		}
	}
	close(gate)
	if err := <-errs; err != nil || applied.Load() != 1 {
		t.Fatalf("the first: %v, applied %d; want nil, 1", err, applied.Load())
	}
	res, err := mediator.Send(context.Background(), ms[1], cmd)
	if err != nil || res.Seq != 1 {
		t.Fatalf("after the first finished: %+v, %v", res, err)
	}
}

// TestStoreSteps checks the claim's lease, token ownership and Release on
// the server itself.
func TestStoreSteps(t *testing.T) {
	srv := redistest.Start(t)
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer client.Close()
	s := redisstore.New(client, &redisstore.Options{KeyPrefix: "t:"})
	ctx := context.Background()
	if _, ok, err := s.Claim(ctx, "k", idempotency.Record{Fingerprint: "f", Token: "a"}, time.Minute); !ok || err != nil {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	r, ok, err := s.Claim(ctx, "k", idempotency.Record{Fingerprint: "g", Token: "b"}, time.Minute)
	if ok || err != nil || r.Fingerprint != "f" || r.Token != "a" || r.Done {
		t.Fatalf("second claim: %+v %v %v", r, ok, err)
	}
	if pttl := client.PTTL(ctx, "t:k").Val(); pttl <= 50*time.Second || pttl > time.Minute {
		t.Fatalf("claim lease %s, want about 1m", pttl)
	}
	// Not the owner: nothing happens.
	if err := s.Release(ctx, "k", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, "k", "b", []byte("x"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.Claim(ctx, "k", idempotency.Record{Token: "c"}, time.Minute); r.Done || r.Token != "a" {
		t.Fatalf("a stranger changed the claim: %+v", r)
	}
	if err := s.Release(ctx, "k", "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Claim(ctx, "k", idempotency.Record{Fingerprint: "f", Token: "d"}, 20*time.Millisecond); !ok {
		t.Fatal("released key still claimed")
	}
	if err := s.Complete(ctx, "k", "d", []byte(`{"Seq":3}`), time.Hour); err != nil {
		t.Fatal(err)
	}
	r, _, _ = s.Claim(ctx, "k", idempotency.Record{Token: "e"}, time.Minute)
	if !r.Done || string(r.Response) != `{"Seq":3}` {
		t.Fatalf("completed record: %+v", r)
	}
	if err := s.Release(ctx, "k", "d"); err != nil { // a done record is not released
		t.Fatal(err)
	}
	if r, _, _ := s.Claim(ctx, "k", idempotency.Record{Token: "e"}, time.Minute); !r.Done {
		t.Fatal("Release dropped a stored answer")
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if _, _, err := s.Claim(ctx, "z", idempotency.Record{Token: "a"}, time.Minute); err == nil {
		t.Fatal("Claim with Redis down succeeded")
	}
}
