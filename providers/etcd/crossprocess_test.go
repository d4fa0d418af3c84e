package etcd_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/providers/etcd"
)

const (
	childProcesses  = 3
	childGoroutines = 8
	childIterations = 10
)

// TestProcessesExcludeEachOther runs this test binary as 3 processes × 8
// goroutines, each process with its own provider, that read-modify-write one
// counter in etcd under one lock, with the token as fence. If two ever held
// the lock together an update would be lost (the counter would fall short)
// or a write would be refused by the fence.
func TestProcessesExcludeEachOther(t *testing.T) {
	switch redistest.ChildRole() {
	case "counter":
		countUnderTheLock(t)
		return
	case "":
	default:
		return
	}
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	store := fencedStore{c: newClient(t, ep), key: "test/counter"}
	ctx := ctxT(t)
	store.init(t, ctx)
	var children []*redistest.Child
	for range childProcesses {
		children = append(children, redistest.Spawn(t, "counter", "ETCD_ENDPOINTS="+ep))
	}
	for _, ch := range children {
		if err := ch.Wait(3 * time.Minute); err != nil {
			t.Fatalf("child %d: %v\n%s", ch.Pid(), err, ch.Output())
		}
	}
	want := int64(childProcesses * childGoroutines * childIterations)
	got, err := store.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("counter = %d, want %d: updates were lost", got, want)
	}
}

// countUnderTheLock is the child's part of TestProcessesExcludeEachOther.
func countUnderTheLock(t *testing.T) {
	eps := strings.Split(os.Getenv("ETCD_ENDPOINTS"), ",")
	p := newProvider(t, testOptions(), eps...)
	store := fencedStore{c: newClient(t, eps...), key: "test/counter"}
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, childGoroutines)
	for range childGoroutines {
		wg.Go(func() {
			for range childIterations {
				if err := incrementUnderTheLock(ctx, p, store); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// incrementUnderTheLock takes the lock, reads the counter, writes it + 1
// fenced by the token, and releases.
func incrementUnderTheLock(ctx context.Context, p *etcd.Provider, store fencedStore) error {
	h, err := p.TryAcquire(ctx, "counter", time.Minute)
	if err != nil {
		return err
	}
	defer h.Release(context.WithoutCancel(ctx))
	v, err := store.read(ctx)
	if err != nil {
		return err
	}
	ok, err := store.write(ctx, h.Token(), v+1)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the fence refused token %d: a later holder had written", h.Token())
	}
	return nil
}
