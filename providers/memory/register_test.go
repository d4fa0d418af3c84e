package memory_test

import (
	"context"
	"strings"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// providerOf returns the lock provider m's container holds.
func providerOf(t *testing.T, m *mediator.Mediator) locking.Provider {
	t.Helper()
	var p locking.Provider
	if err := m.Invoke(func(lp locking.Provider) { p = lp }); err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return p
}

func TestWithInMemoryDistributedLockingRegistersAMemoryProvider(t *testing.T) {
	m, err := mediator.New(memory.WithInMemoryDistributedLocking(memory.WithShards(4)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer m.Close(context.Background())
	p, ok := providerOf(t, m).(*memory.Provider)
	if !ok {
		t.Fatalf("provider is %T, want *memory.Provider", providerOf(t, m))
	}
	if p != providerOf(t, m) {
		t.Error("the container made a second provider; Build must make one")
	}
}

func TestEachMediatorGetsItsOwnProvider(t *testing.T) {
	var held []locking.Handle
	for range 2 {
		m, err := mediator.New(memory.WithInMemoryDistributedLocking())
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		h, err := providerOf(t, m).TryAcquire(context.Background(), "k", 0)
		if err != nil {
			t.Fatalf("the second mediator shares the first one's locks: %v", err)
		}
		held = append(held, h)
		_ = m.Close(context.Background())
	}
	for _, h := range held {
		release(t, h)
	}
}

func TestSecondProviderFailsBuild(t *testing.T) {
	_, err := mediator.New(
		memory.WithInMemoryDistributedLocking(),
		memory.WithInMemoryDistributedLocking(),
	)
	if err == nil {
		t.Fatal("Build accepted two lock providers")
	}
	if !strings.HasPrefix(err.Error(), "mediator: build: two lock providers: registered at memory/register_test.go:") {
		t.Errorf("Build error %q should say there are two lock providers and where they were registered", err)
	}
}
