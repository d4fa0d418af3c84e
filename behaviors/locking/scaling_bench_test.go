package locking_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// scaleWithdraw is benchWithdraw with the sending goroutine's number, so the
// handler can keep each goroutine's accounts apart.
type scaleWithdraw struct {
	mediator.Command[benchBalance]
	locking.DistributedLock `lock:"timeout=10s"`
	AccountID               string
	Worker                  int
	Amount                  int64
}

func (c scaleWithdraw) LockKey() string { return c.AccountID }

// scaleWorkers is the most goroutines BenchmarkSendScaling runs.
const scaleWorkers = 2

// scaleAccounts gives every goroutine accounts of its own, on cache lines of
// their own: the handler shares nothing between goroutines, so whatever
// keeps two goroutines from running twice as fast is in the mediator, the
// behavior, the provider or the runtime.
type scaleAccounts struct {
	w [scaleWorkers]struct {
		balance [64]int64
		_       [64]byte
	}
}

//go:noinline
func (a *scaleAccounts) Handle(_ context.Context, c scaleWithdraw) (benchBalance, error) {
	b := &a.w[c.Worker].balance[int(c.Amount)&63]
	*b -= c.Amount
	return benchBalance{Cents: *b}, nil
}

// BenchmarkSendScaling measures how a Send scales with cores: goroutines=1
// makes b.N Sends on one goroutine, goroutines=2 makes b.N Sends split
// between two, each goroutine on 64 keys of its own (distinct keys: the
// locks never contend). ns/op is wall time per Send, so the throughput of 2
// goroutines relative to 1 is ns/op(goroutines=1) / ns/op(goroutines=2):
// 2.0 is perfect scaling on two idle cores. nolock is the baseline (no
// behavior), noop the behavior with a provider that does nothing, memory the
// behavior with the in-memory provider.
func BenchmarkSendScaling(b *testing.B) {
	providers := []struct {
		name string
		opts []func() mediator.Option
	}{
		{"nolock", nil},
		{"noop", []func() mediator.Option{locking.WithNoOpLocking, lockScale}},
		{"memory", []func() mediator.Option{func() mediator.Option { return memory.WithInMemoryDistributedLocking() }, lockScale}},
	}
	for _, p := range providers {
		for g := 1; g <= scaleWorkers; g++ {
			b.Run(p.name+"/goroutines="+strconv.Itoa(g), func(b *testing.B) {
				opts := []mediator.Option{mediator.WithHandler[scaleWithdraw, benchBalance](&scaleAccounts{})}
				for _, o := range p.opts {
					opts = append(opts, o())
				}
				runScaling(b, build(b, opts...), g)
			})
		}
	}
}

func lockScale() mediator.Option {
	return locking.WithDistributedLocking[scaleWithdraw, benchBalance]()
}

// runScaling makes b.N Sends on m, split between goroutines goroutines.
func runScaling(b *testing.B, m *mediator.Mediator, goroutines int) {
	ctx := context.Background()
	ids := make([][64]string, goroutines)
	for w := range ids {
		for i := range ids[w] {
			ids[w][i] = "w" + strconv.Itoa(w) + "-acc-" + strconv.Itoa(i)
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range goroutines {
		n := b.N / goroutines
		if w < b.N%goroutines {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range n {
				_, err := mediator.Send(ctx, m, scaleWithdraw{AccountID: ids[w][i&63], Worker: w, Amount: int64(i & 63)})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	close(start)
	wg.Wait()
}
