package redis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/lockvalue"
)

// announcements is a raw subscription to key's release channel. next tells
// what came first after the release under test: a test publishes "end"
// after it, so next never waits on a release that was not announced.
type announcements struct {
	t       *testing.T
	client  *goredis.Client
	ps      *goredis.PubSub
	channel string
}

func subscribeAnnouncements(t *testing.T, client *goredis.Client, key string) *announcements {
	t.Helper()
	channel := base.NewKeys(DefaultKeyPrefix, key).Channel
	ps := client.Subscribe(context.Background(), channel)
	t.Cleanup(func() { _ = ps.Close() })
	// The confirmation: after it, every publication reaches ps.
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &announcements{t: t, client: client, ps: ps, channel: channel}
}

// first publishes "end" and returns the payload of the first message on
// the channel: "end" when nothing was announced before it.
func (a *announcements) first() string {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.client.Publish(ctx, a.channel, "end").Err(); err != nil {
		a.t.Fatal(err)
	}
	msg, err := a.ps.ReceiveMessage(ctx)
	if err != nil {
		a.t.Fatal(err)
	}
	return msg.Payload
}

func newAnnounceTest(t *testing.T) (*goredis.Client, func(opts *Options) *Provider) {
	t.Helper()
	srv := redistest.Start(t)
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	return client, func(opts *Options) *Provider {
		p, err := New(client, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
}

// TestAReleaseNobodyWaitedForIsNotAnnounced: a lock that refused nobody
// while held has nobody to tell, and its release publishes nothing (the
// PUBLISH is a third of the release script's cost in Redis).
func TestAReleaseNobodyWaitedForIsNotAnnounced(t *testing.T) {
	client, newProvider := newAnnounceTest(t)
	p := newProvider(nil)
	ctx := context.Background()
	a := subscribeAnnouncements(t, client, "k")
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	if v := client.Get(ctx, h.(*handle).k.Lock).Val(); strings.HasSuffix(v, string(lockvalue.Waited)) {
		t.Fatalf("a lock nobody asked for is marked as waited for: %q", v)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.first(); got != "end" {
		t.Fatalf("first message after the release = %q, want none before %q", got, "end")
	}
}

// TestAReleaseSomeoneWaitedForIsAnnounced: another provider refused while
// the lock is held marks its value, and the release is announced, with the
// holder's owner as payload.
func TestAReleaseSomeoneWaitedForIsAnnounced(t *testing.T) {
	client, newProvider := newAnnounceTest(t)
	holder, other := newProvider(nil), newProvider(nil)
	ctx := context.Background()
	a := subscribeAnnouncements(t, client, "k")
	h, err := holder.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("err = %v, want ErrNotAcquired", err)
	}
	if v := client.Get(ctx, h.(*handle).k.Lock).Val(); !strings.HasSuffix(v, string(lockvalue.Waited)) {
		t.Fatalf("a refused acquisition left the value unmarked: %q", v)
	}
	// A second refusal does not mark it twice.
	if _, err := other.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("err = %v, want ErrNotAcquired", err)
	}
	if v := client.Get(ctx, h.(*handle).k.Lock).Val(); strings.HasSuffix(v, "**") {
		t.Fatalf("value marked twice: %q", v)
	}
	owner := h.(*handle).owner
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.first(); got != owner {
		t.Fatalf("first message after the release = %q, want the holder's announcement %q", got, owner)
	}
}

// TestAHandedOnLockKeepsTheWaitedMark: a release that hands the lock to
// this provider's own waiter (releaseHandOnScript) replaces the value; a
// provider refused before still waits for the release, so the new value
// keeps the mark, and the new holder's release is announced. The script is
// run directly: whether a Release hands on depends on the waiter being
// parked at that moment, which a test cannot pin down.
func TestAHandedOnLockKeepsTheWaitedMark(t *testing.T) {
	client, _ := newAnnounceTest(t)
	ctx := context.Background()
	k := base.NewKeys(DefaultKeyPrefix, "k")
	owner, next := "a:1|i||||", "a:2|i||||"
	for _, marked := range []bool{false, true} {
		v := owner + "1764473298123456"
		if marked {
			v += string(lockvalue.Waited)
		}
		if err := client.Set(ctx, k.Lock, v, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		n, err := releaseHandOnScript.Run(ctx, client, []string{k.Lock, k.Fence},
			owner, k.Channel, next, "30000", "60000", "0", base.NowArg).Int64()
		if err != nil || n <= 1 {
			t.Fatalf("hand-on = %d, %v; want the next owner's token", n, err)
		}
		got := client.Get(ctx, k.Lock).Val()
		if !strings.HasPrefix(got, next) || strings.HasSuffix(got, string(lockvalue.Waited)) != marked {
			t.Fatalf("value after handing on %q = %q, want the next owner's, marked: %v", v, got, marked)
		}
	}
	a := subscribeAnnouncements(t, client, "k")
	if n, err := base.ReleaseScript.Run(ctx, client, []string{k.Lock}, next, k.Channel).Int64(); err != nil || n != 1 {
		t.Fatalf("release = %d, %v; want 1", n, err)
	}
	if got := a.first(); got != next {
		t.Fatalf("first message after the release = %q, want the announcement %q", got, next)
	}
}
