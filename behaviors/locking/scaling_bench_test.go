package locking_test

import (
	"context"
	"hash/maphash"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

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
	for _, p := range scaleProviders {
		for g := 1; g <= scaleWorkers; g++ {
			b.Run(p.name+"/goroutines="+strconv.Itoa(g), func(b *testing.B) {
				runScaling(b, p.build(b), g)
			})
		}
	}
}

// scaleProviders are the set-ups BenchmarkSendScaling and
// BenchmarkSendScalingInterleaved compare. floor is the skeleton of a
// memory-locked Send without its exclusion (BenchmarkSendFloor). memory-1shard puts every key
// under one mutex and one token counter: what sharing one cache line costs.
var scaleProviders = []struct {
	name  string
	build func(b *testing.B) *mediator.Mediator
}{
	{"nolock", func(b *testing.B) *mediator.Mediator { return buildScale(b, locking.WithoutLocking()) }},
	// floor is no lock, but a handler that does the skeleton of one: see
	// BenchmarkSendFloor.
	{"floor", func(b *testing.B) *mediator.Mediator {
		return build(b, locking.WithoutLocking(),
			mediator.WithHandler[scaleWithdraw, benchBalance](&floorScaleLocks{floorLocks: floorLocks{seed: maphash.MakeSeed()}}))
	}},
	{"noop", func(b *testing.B) *mediator.Mediator { return buildScale(b, locking.WithNoOpLocking(), lockScale()) }},
	{"memory", func(b *testing.B) *mediator.Mediator {
		return buildScale(b, memory.WithInMemoryDistributedLocking(), lockScale())
	}},
	{"memory-256shards", func(b *testing.B) *mediator.Mediator {
		return buildScale(b, memory.WithInMemoryDistributedLocking(memory.WithShards(256)), lockScale())
	}},
	{"memory-4096shards", func(b *testing.B) *mediator.Mediator {
		return buildScale(b, memory.WithInMemoryDistributedLocking(memory.WithShards(4096)), lockScale())
	}},
	{"memory-1shard", func(b *testing.B) *mediator.Mediator {
		return buildScale(b, memory.WithInMemoryDistributedLocking(memory.WithShards(1)), lockScale())
	}},
}

func buildScale(b *testing.B, opts ...mediator.Option) *mediator.Mediator {
	return build(b, append(opts, mediator.WithHandler[scaleWithdraw, benchBalance](&scaleAccounts{}))...)
}

func lockScale() mediator.Option {
	return locking.WithDistributedLocking[scaleWithdraw, benchBalance]()
}

// scaleIDs returns the account ids of goroutine w: 64 of its own.
func scaleIDs(w int) (ids [64]string) {
	for i := range ids {
		ids[i] = "w" + strconv.Itoa(w) + "-acc-" + strconv.Itoa(i)
	}
	return ids
}

// BenchmarkSendScalingInterleaved is BenchmarkSendScaling with both
// goroutine counts in one run, alternating every phaseSends Sends: a phase
// of one goroutine, then a phase of two, and so on, so that both meet the
// same moments of a shared machine's load. It reports the wall time per Send
// of each (ns/send-1g, ns/send-2g) and the throughput of two goroutines over
// that of one (x-throughput-2g, 2.0 being perfect). ns/op counts both.
//
// spin is the control: a loop of arithmetic on each goroutine's own cache
// line, no Send, no allocation, nothing shared. It shows how much of the
// second core the machine gives this process at all. On a Linux host with
// sched_autogroup_enabled (this project's test machine), CPU time is shared
// fairly between sessions, not threads: while another session (another
// user's build, say) is busy, a process gets its session's share whatever
// the number of its threads, and even spin reports x-throughput-2g near 1.
// A Send's figure means something only beside spin's of the same run.
func BenchmarkSendScalingInterleaved(b *testing.B) {
	b.Run("spin", func(b *testing.B) { runInterleaved(b, spinWork) })
	for _, p := range scaleProviders {
		b.Run(p.name, func(b *testing.B) {
			m := p.build(b)
			ctx := context.Background()
			ids := [scaleWorkers][64]string{}
			for w := range ids {
				ids[w] = scaleIDs(w)
			}
			runInterleaved(b, func(w, i int) error {
				_, err := mediator.Send(ctx, m, scaleWithdraw{AccountID: ids[w][i&63], Worker: w, Amount: int64(i & 63)})
				return err
			})
		})
	}
}

// spinLines are spinWork's goroutines' own cache lines.
var spinLines [scaleWorkers]struct {
	v uint64
	_ [120]byte
}

// spinWork is about as long as a locked Send and shares nothing.
//
//go:noinline
func spinWork(w, i int) error {
	x := spinLines[w].v
	for k := range 48 {
		x = x*6364136223846793005 + uint64(i+k)
	}
	spinLines[w].v = x
	return nil
}

// phaseSends is the number of Sends of one phase of
// BenchmarkSendScalingInterleaved: a few milliseconds, far shorter than the
// load changes of a shared machine, far longer than starting a phase.
const phaseSends = 20_000

// runInterleaved calls send(w, i) b.N times, for the i-th call of worker w,
// in alternating phases of one and two workers.
func runInterleaved(b *testing.B, send func(w, i int) error) {
	type phase struct {
		n    int
		done *sync.WaitGroup
		cpu  *time.Duration // the worker adds its thread's CPU time
	}
	var workers [scaleWorkers]chan phase
	for w := range workers {
		workers[w] = make(chan phase)
		go func() {
			// A thread of its own, so that its CPU time is this worker's.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			i := 0
			for ph := range workers[w] {
				start := threadCPU()
				for range ph.n {
					if err := send(w, i); err != nil {
						b.Error(err)
					}
					i++
				}
				*ph.cpu += threadCPU() - start
				ph.done.Done()
			}
		}()
	}
	defer func() {
		for _, c := range workers {
			close(c)
		}
	}()
	// figures of the phases of one goroutine count: wall time, the workers'
	// CPU time, the process's CPU time (workers, collector, everything).
	type figures struct {
		wall, workers, process time.Duration
		sends                  int
	}
	var by [scaleWorkers + 1]figures
	// run makes n Sends split between the first g workers.
	run := func(g, n int) {
		f := &by[g]
		var wg sync.WaitGroup
		wg.Add(g)
		cpu0 := processCPU()
		start := time.Now()
		for w := range g {
			workers[w] <- phase{n: n / g, done: &wg, cpu: &f.workers}
		}
		wg.Wait()
		f.wall += time.Since(start)
		f.process += processCPU() - cpu0
		f.sends += n
	}
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		n := min(phaseSends, b.N-sent)
		g := 1
		if (sent/phaseSends)%2 == 1 {
			g = scaleWorkers
		}
		n = max(n/g*g, g)
		run(g, n)
		sent += n
	}
	b.StopTimer()
	one, two := by[1], by[scaleWorkers]
	if one.sends == 0 || two.sends == 0 {
		return // b.N too small for both phases: the first, calibrating run
	}
	per := func(d time.Duration, sends int) float64 { return float64(d.Nanoseconds()) / float64(sends) }
	b.ReportMetric(per(one.wall, one.sends), "ns/send-1g")
	b.ReportMetric(per(two.wall, two.sends), "ns/send-2g")
	b.ReportMetric(per(one.wall, one.sends)/per(two.wall, two.sends), "x-throughput-2g")
	if !cpuTimes {
		return
	}
	// What two idle cores would give, from CPU time, which other processes'
	// load does not inflate the way it inflates wall time: one goroutine is
	// bound by its own CPU time per Send (the collector runs on the other
	// core) unless the process needs more than both cores; two goroutines by
	// the process's CPU time per Send over two cores. Stalls on cache lines
	// that bounce between the cores are CPU time, so they count; waiting for
	// a mutex held by the other goroutine is not, so it does not.
	bound1 := max(per(one.workers, one.sends), per(one.process, one.sends)/2)
	bound2 := per(two.process, two.sends) / 2
	b.ReportMetric(per(one.process, one.sends), "cpu-ns/send-1g")
	b.ReportMetric(per(two.process, two.sends), "cpu-ns/send-2g")
	b.ReportMetric(bound1/bound2, "x-cpu-2g")
}

// runScaling makes b.N Sends on m, split between goroutines goroutines.
func runScaling(b *testing.B, m *mediator.Mediator, goroutines int) {
	ctx := context.Background()
	ids := make([][64]string, goroutines)
	for w := range ids {
		ids[w] = scaleIDs(w)
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
	cpu0 := processCPU()
	close(start)
	wg.Wait()
	b.StopTimer()
	if cpuTimes {
		// The process's CPU time per Send, the collector's included: on a
		// shared machine, where the wall-clock ratio depends on whether the
		// second core is free at all, a rise of this figure from one
		// goroutine to two is what the goroutines cost each other (cache
		// lines that move between the cores, the allocator's shared state).
		b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
