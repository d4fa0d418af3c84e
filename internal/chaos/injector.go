package chaos

import (
	"math/rand/v2"
	"time"
)

// The kinds of fault an [Injector] injects.
const (
	FaultLatency      = "latency"       // 20-60ms more on every reply of one node
	FaultSlowNode     = "slow-node"     // one node slower than the node timeout
	FaultStall        = "stall"         // one node's connections black-holed
	FaultReset        = "reset"         // one node's connections reset
	FaultPause        = "pause"         // SIGSTOP of one node for up to 2 leases, then SIGCONT
	FaultKillRestart  = "kill-restart"  // SIGKILL of one node, restarted soon after
	FaultHolderKill   = "holder-kill"   // SIGKILL of a worker inside its critical section
	FaultMajorityDown = "majority-down" // SIGKILL of two nodes of three for a while
)

// FaultKinds lists every kind, in the order of a cycle before shuffling.
var FaultKinds = []string{FaultLatency, FaultSlowNode, FaultStall, FaultReset, FaultPause, FaultKillRestart, FaultHolderKill, FaultMajorityDown}

// Injector injects one fault at a time into a cluster, each for a while,
// with quiet gaps between them, and notes each in the checker.
type Injector struct {
	Cluster *Cluster
	Checker *Checker
	// Rand picks the order of faults, their target and their length; a
	// seeded one makes a run's schedule repeatable.
	Rand *rand.Rand
	// TTL is the lease the workers use; NodeTimeout their node timeout.
	TTL, NodeTimeout time.Duration
	// KillHolder SIGKILLs a worker process that is inside its critical
	// section, and starts another in its place. It reports false when none
	// was inside long enough to be found.
	KillHolder func() bool
	// Logf receives one line per fault.
	Logf func(format string, args ...any)
}

// Run injects faults until until: every kind once per cycle, in a shuffled
// order. The run's time is the fault loop's: it returns when the last fault
// has been healed.
func (in *Injector) Run(until time.Time) {
	for time.Now().Before(until) {
		order := append([]string(nil), FaultKinds...)
		in.Rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, kind := range order {
			if !time.Now().Before(until) {
				return
			}
			in.inject(kind)
			in.sleep(200, 500)
		}
	}
}

// sleep pauses between lo and hi milliseconds.
func (in *Injector) sleep(lo, hi int) {
	time.Sleep(time.Duration(lo+in.Rand.IntN(hi-lo+1)) * time.Millisecond)
}

func (in *Injector) inject(kind string) {
	n := len(in.Cluster.Nodes)
	i := in.Rand.IntN(n)
	p, s := in.Cluster.Proxies[i], in.Cluster.Nodes[i]
	begin := time.Now()
	var err error
	switch kind {
	case FaultLatency:
		d := time.Duration(20+in.Rand.IntN(41)) * time.Millisecond
		if err = p.Latency(d, 10*time.Millisecond); err == nil {
			in.sleep(500, 1500)
			p.Heal()
		}
	case FaultSlowNode:
		if err = p.Latency(3*in.NodeTimeout, 0); err == nil {
			in.sleep(500, 1000)
			p.Heal()
		}
	case FaultStall:
		if err = p.Stall(time.Second); err == nil {
			in.sleep(500, 1000)
			p.Heal()
		}
	case FaultReset:
		if err = p.Reset(); err == nil {
			in.sleep(300, 800)
			p.Heal()
		}
	case FaultPause:
		s.Pause()
		time.Sleep(in.TTL/2 + time.Duration(in.Rand.Int64N(int64(3*in.TTL/2))))
		s.Resume()
	case FaultKillRestart:
		s.Kill()
		in.sleep(200, 800)
		s.Restart()
	case FaultHolderKill:
		if !in.KillHolder() {
			in.logf("%-13s no worker was inside its section to kill", kind)
			return
		}
		in.Checker.Fault(kind)
		return
	case FaultMajorityDown:
		j := (i + 1 + in.Rand.IntN(n-1)) % n
		s.Kill()
		in.Cluster.Nodes[j].Kill()
		down := time.Now()
		in.sleep(800, 1500)
		// Sections may begin only on grants obtained before the kills; a
		// margin covers reporting a section whose grant came just before.
		in.Checker.NoMajority(down.Add(100*time.Millisecond), time.Now())
		s.Restart()
		in.Cluster.Nodes[j].Restart()
		in.logf("%-13s nodes %d and %d down for %s", kind, i, j, time.Since(down).Round(time.Millisecond))
		in.Checker.Fault(kind)
		return
	}
	if err != nil {
		in.logf("%-13s could not be injected: %v", kind, err)
		return
	}
	in.Checker.Fault(kind)
	in.logf("%-13s node %d for %s", kind, i, time.Since(begin).Round(time.Millisecond))
}

func (in *Injector) logf(format string, args ...any) {
	if in.Logf != nil {
		in.Logf(format, args...)
	}
}
