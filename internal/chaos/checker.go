package chaos

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"
)

// Checker collects the events of a run (from every worker process) and the
// parent's own notes (faults, killed processes, windows without a majority),
// and judges them in [Checker.Report]. Its methods are safe for concurrent
// use.
type Checker struct {
	mu        sync.Mutex
	events    []Event
	open      map[[2]int]Event // sections under way, by (proc, goroutine), as reported so far
	killed    map[int]int64    // proc → when it was SIGKILLed
	blackouts [][2]int64       // windows in which no section may begin
	faults    map[string]int
}

// NewChecker returns an empty checker.
func NewChecker() *Checker {
	return &Checker{
		open:   make(map[[2]int]Event),
		killed: make(map[int]int64),
		faults: make(map[string]int),
	}
}

// Record adds a worker's event.
func (c *Checker) Record(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	switch e.Kind {
	case Enter:
		c.open[[2]int{e.Proc, e.G}] = e
	case Exit:
		delete(c.open, [2]int{e.Proc, e.G})
	}
}

// Holders returns the processes that, by the events received so far, are
// inside a critical section.
func (c *Checker) Holders() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for k := range c.open {
		out = append(out, k[0])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Killed notes that proc was SIGKILLed at at: its sections still open end
// there. Call it once every event the process sent has been recorded.
func (c *Checker) Killed(proc int, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.killed[proc] = at.UnixNano()
	for k := range c.open {
		if k[0] == proc {
			delete(c.open, k)
		}
	}
}

// NoMajority notes a window in which too few nodes were up for any lock to
// be granted: a section that begins inside it is a violation.
func (c *Checker) NoMajority(from, to time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blackouts = append(c.blackouts, [2]int64{from.UnixNano(), to.UnixNano()})
}

// Fault counts one injected fault of kind.
func (c *Checker) Fault(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults[kind]++
}

// section is one critical section: from its Enter to its Exit, or to the
// SIGKILL of its process, or forever when it never ended.
type section struct {
	proc, g    int
	token      uint64
	start, end int64
	asked      int64 // when the command was sent (0: unknown)
}

// Report judges the run. finalValue is the fenced store's value at the end:
// every accepted write stored the value its writer read plus one, so it must
// equal the number of accepted writes (minus none: a lower value means an
// update was lost), give or take writes of killed processes that landed
// without being reported.
func (c *Checker) Report(finalValue int64) Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := Report{FinalValue: finalValue, Faults: maps.Clone(c.faults)}
	events := slices.Clone(c.events)
	slices.SortStableFunc(events, func(a, b Event) int { return cmp.Compare(a.At, b.At) })

	var sections []section
	open := make(map[[2]int]Event)
	var writes []Event
	for _, e := range events {
		switch e.Kind {
		case Op:
			r.Attempted++
			switch e.Outcome {
			case OK:
				r.Succeeded++
			case Contended:
				r.Contended++
			case Unavailable:
				r.Unavailable++
			case Lost:
				r.Lost++
			default:
				r.Failed++
			}
		case Enter:
			k := [2]int{e.Proc, e.G}
			if prev, ok := open[k]; ok {
				r.violate("proc %d goroutine %d entered (token %d) without leaving its section (token %d)", e.Proc, e.G, e.Token, prev.Token)
			}
			open[k] = e
		case Exit:
			k := [2]int{e.Proc, e.G}
			in, ok := open[k]
			if !ok {
				r.violate("proc %d goroutine %d left a section it never entered (token %d)", e.Proc, e.G, e.Token)
				continue
			}
			delete(open, k)
			sections = append(sections, section{e.Proc, e.G, in.Token, in.At, e.At, in.Asked})
		case Write:
			writes = append(writes, e)
		}
	}
	killedInside := 0
	for k, in := range open {
		end := int64(math.MaxInt64)
		if at, ok := c.killed[k[0]]; ok {
			end = at
			killedInside++
		} else {
			r.violate("proc %d goroutine %d never left its section (token %d)", k[0], k[1], in.Token)
		}
		sections = append(sections, section{k[0], k[1], in.Token, in.At, end, in.Asked})
	}
	r.Sections = len(sections)
	r.KilledInside = killedInside
	c.judgeSections(&r, sections)
	judgeWrites(&r, writes, killedInside)
	return r
}

// judgeSections finds overlapping sections, tokens that did not grow from
// one holder to the next, and sections begun without a majority.
func (c *Checker) judgeSections(r *Report, sections []section) {
	slices.SortFunc(sections, func(a, b section) int { return cmp.Compare(a.start, b.start) })
	var last *section // the section ending last so far
	for i := range sections {
		s := &sections[i]
		r.MaxToken = max(r.MaxToken, s.token)
		if i > 0 {
			r.LongestGap = max(r.LongestGap, time.Duration(s.start-sections[i-1].start))
		}
		if last != nil {
			if s.start < last.end {
				r.violate("overlap: proc %d goroutine %d entered with token %d at %s while proc %d goroutine %d (token %d) was inside until %s",
					s.proc, s.g, s.token, stamp(s.start), last.proc, last.g, last.token, stamp(last.end))
			}
			if s.token <= last.token {
				r.violate("token did not grow: proc %d goroutine %d entered with token %d after proc %d goroutine %d held token %d",
					s.proc, s.g, s.token, last.proc, last.g, last.token)
			}
		}
		if last == nil || s.end > last.end {
			last = s
		}
		for _, w := range c.blackouts {
			// A section that begins inside the window broke it if its
			// command was sent inside it too: granted then, when no
			// majority was up. One sent before may have been granted
			// before the window and entered late (a process descheduled
			// between the grant and its report on a busy machine).
			if s.start > w[0] && s.start < w[1] && (s.asked == 0 || s.asked > w[0]) {
				r.violate("proc %d goroutine %d entered with token %d at %s, when no majority of nodes was up (%s to %s)",
					s.proc, s.g, s.token, stamp(s.start), stamp(w[0]), stamp(w[1]))
			}
		}
	}
}

// judgeWrites replays the fenced writes in the store's order: an accepted
// token below one accepted before is a violation, and so is a final value
// other than the number of accepted writes (lower: lost updates; higher: more
// than the killed holders can explain).
func judgeWrites(r *Report, writes []Event, killedInside int) {
	slices.SortFunc(writes, func(a, b Event) int { return cmp.Compare(a.Seq, b.Seq) })
	var best uint64
	for _, w := range writes {
		r.Writes++
		if !w.Accepted {
			r.Refused++
			continue
		}
		r.Accepted++
		if w.Token < best {
			r.violate("fenced write with token %d accepted (store seq %d) after token %d had been accepted", w.Token, w.Seq, best)
		}
		best = max(best, w.Token)
	}
	switch diff := r.FinalValue - int64(r.Accepted); {
	case diff < 0:
		r.violate("lost updates: %d writes accepted but the store holds %d", r.Accepted, r.FinalValue)
	case diff > int64(killedInside):
		r.violate("the store holds %d but only %d writes were accepted and %d holders were killed", r.FinalValue, r.Accepted, killedInside)
	}
}

func stamp(ns int64) string {
	if ns == math.MaxInt64 {
		return "the end"
	}
	return time.Unix(0, ns).UTC().Format("15:04:05.000000")
}

func (r *Report) violate(format string, args ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}
