package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Report is the verdict of a run: what was attempted, what happened, which
// faults were injected, and every violation found (there must be none).
type Report struct {
	// Attempted counts locked commands sent; the next five split them by
	// outcome.
	Attempted, Succeeded, Contended, Unavailable, Lost, Failed int
	// Sections counts critical sections (handler runs under a lock);
	// KilledInside those ended by a SIGKILL of their process.
	Sections, KilledInside int
	// Writes counts fenced writes; Accepted and Refused split them.
	Writes, Accepted, Refused int
	// FinalValue is the fenced store's value at the end.
	FinalValue int64
	// MaxToken is the largest fencing token seen.
	MaxToken uint64
	// LongestGap is the longest time between the start of one critical
	// section and the start of the next: the longest stretch in which
	// nobody got the lock.
	LongestGap time.Duration
	// Faults counts injected faults by kind.
	Faults map[string]int
	// Violations describes each broken rule.
	Violations []string
}

// FaultCount returns the number of faults injected.
func (r Report) FaultCount() int {
	n := 0
	for _, v := range r.Faults {
		n += v
	}
	return n
}

// String renders the report as the suite prints it.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "operations attempted  %6d\n", r.Attempted)
	fmt.Fprintf(&b, "  succeeded           %6d\n", r.Succeeded)
	fmt.Fprintf(&b, "  contended           %6d  (lock timeout)\n", r.Contended)
	fmt.Fprintf(&b, "  unavailable         %6d  (no majority of nodes answered)\n", r.Unavailable)
	fmt.Fprintf(&b, "  lost                %6d  (lease lost while the handler ran)\n", r.Lost)
	fmt.Fprintf(&b, "  failed              %6d  (other errors)\n", r.Failed)
	fmt.Fprintf(&b, "critical sections     %6d  (%d ended by SIGKILL of the holder), max token %d\n", r.Sections, r.KilledInside, r.MaxToken)
	fmt.Fprintf(&b, "longest gap           %6s  (between two sections' starts)\n", r.LongestGap.Round(time.Millisecond))
	fmt.Fprintf(&b, "fenced writes         %6d  accepted %d, refused %d; store value %d\n", r.Writes, r.Accepted, r.Refused, r.FinalValue)
	kinds := make([]string, 0, len(r.Faults))
	for k := range r.Faults {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, r.Faults[k])
	}
	fmt.Fprintf(&b, "faults injected       %6d  (%s)\n", r.FaultCount(), strings.Join(parts, ", "))
	fmt.Fprintf(&b, "violations            %6d\n", len(r.Violations))
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "  - %s\n", v)
	}
	return b.String()
}
