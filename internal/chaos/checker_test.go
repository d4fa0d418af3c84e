package chaos_test

import (
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/internal/chaos"
)

// history builds events at millisecond offsets from a fixed origin.
type history struct {
	c    *chaos.Checker
	base time.Time
}

func newHistory() *history {
	return &history{c: chaos.NewChecker(), base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (h *history) at(ms int) int64 {
	return h.base.Add(time.Duration(ms) * time.Millisecond).UnixNano()
}

// section records proc/g holding token from ms to ms+dur with one write.
func (h *history) section(proc, g int, token uint64, from, dur int, seq int64, accepted bool) {
	h.c.Record(chaos.Event{Kind: chaos.Enter, Proc: proc, G: g, Token: token, At: h.at(from)})
	h.c.Record(chaos.Event{Kind: chaos.Write, Proc: proc, G: g, Token: token, At: h.at(from + dur/2), Seq: seq, Accepted: accepted})
	h.c.Record(chaos.Event{Kind: chaos.Exit, Proc: proc, G: g, Token: token, At: h.at(from + dur)})
	h.c.Record(chaos.Event{Kind: chaos.Op, Proc: proc, G: g, Outcome: chaos.OK, At: h.at(from + dur)})
}

func wantViolation(t *testing.T, r chaos.Report, fragment string) {
	t.Helper()
	for _, v := range r.Violations {
		if strings.Contains(v, fragment) {
			return
		}
	}
	t.Fatalf("no violation mentioning %q in:\n%s", fragment, r)
}

func TestCheckerPassesAHistoryOfDisjointSectionsWithGrowingTokens(t *testing.T) {
	h := newHistory()
	h.section(1, 0, 1, 0, 10, 1, true)
	h.section(2, 3, 2, 10, 10, 2, true) // entering the instant the other left is fine
	h.section(1, 1, 5, 30, 10, 3, true)
	h.c.Record(chaos.Event{Kind: chaos.Op, Proc: 2, Outcome: chaos.Contended, At: h.at(31)})
	h.c.Fault("pause")
	r := h.c.Report(3)
	if len(r.Violations) != 0 {
		t.Fatalf("violations in a clean history:\n%s", r)
	}
	if r.Attempted != 4 || r.Succeeded != 3 || r.Contended != 1 || r.Sections != 3 || r.Accepted != 3 || r.MaxToken != 5 || r.FaultCount() != 1 {
		t.Fatalf("counts are wrong:\n%s", r)
	}
	if r.LongestGap != 20*time.Millisecond { // sections begin at 0, 10 and 30ms
		t.Fatalf("longest gap %s, want 20ms:\n%s", r.LongestGap, r)
	}
	if !strings.Contains(r.String(), "violations                 0") {
		t.Fatalf("report does not print zero violations:\n%s", r)
	}
}

func TestCheckerFlagsOverlappingSections(t *testing.T) {
	h := newHistory()
	h.section(1, 0, 1, 0, 10, 1, true)
	h.section(2, 0, 2, 9, 10, 2, true)
	wantViolation(t, h.c.Report(2), "overlap: proc 2 goroutine 0 entered with token 2")
}

func TestCheckerFlagsAnOverlapWithALongSectionThatBeganEarlier(t *testing.T) {
	h := newHistory()
	h.section(1, 0, 1, 0, 100, 1, true)
	h.section(2, 0, 2, 100, 1, 2, true) // overlaps nothing: starts when 1 ends
	h.section(3, 0, 3, 50, 1, 3, true)  // inside proc 1's long section
	wantViolation(t, h.c.Report(3), "while proc 1 goroutine 0 (token 1) was inside")
}

func TestCheckerFlagsATokenThatDoesNotGrow(t *testing.T) {
	h := newHistory()
	h.section(1, 0, 7, 0, 10, 1, true)
	h.section(2, 0, 7, 20, 10, 2, true)
	wantViolation(t, h.c.Report(2), "token did not grow: proc 2 goroutine 0 entered with token 7")
}

func TestCheckerFlagsAFencedWriteAcceptedBelowAnAcceptedToken(t *testing.T) {
	h := newHistory()
	h.section(1, 0, 4, 0, 10, 1, true)
	h.section(2, 0, 5, 20, 10, 3, true)
	// A broken store: it numbered this write after token 5's and still
	// accepted the smaller token.
	h.c.Record(chaos.Event{Kind: chaos.Write, Proc: 1, G: 0, Token: 4, At: h.at(40), Seq: 4, Accepted: true})
	r := h.c.Report(3)
	wantViolation(t, r, "fenced write with token 4 accepted (store seq 4) after token 5")
}

func TestCheckerCountsARefusedStaleWriteWithoutFlaggingIt(t *testing.T) {
	h := newHistory()
	h.section(2, 0, 5, 20, 10, 3, true)
	h.c.Record(chaos.Event{Kind: chaos.Write, Proc: 1, G: 0, Token: 4, At: h.at(40), Seq: 4})
	r := h.c.Report(1)
	if len(r.Violations) != 0 || r.Refused != 1 || r.Accepted != 1 {
		t.Fatalf("a refused stale write is the fence working, not a violation:\n%s", r)
	}
}

func TestCheckerFlagsLostUpdates(t *testing.T) {
	h := newHistory()
	h.section(1, 0, 1, 0, 10, 1, true)
	h.section(2, 0, 2, 20, 10, 2, true)
	wantViolation(t, h.c.Report(1), "lost updates: 2 writes accepted but the store holds 1")
}

func TestCheckerEndsAKilledHoldersSectionAtTheKill(t *testing.T) {
	h := newHistory()
	h.c.Record(chaos.Event{Kind: chaos.Enter, Proc: 1, G: 0, Token: 1, At: h.at(0)})
	if got := h.c.Holders(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("Holders() = %v, want [1]", got)
	}
	h.c.Killed(1, h.base.Add(50*time.Millisecond))
	if got := h.c.Holders(); len(got) != 0 {
		t.Fatalf("Holders() after the kill = %v, want none", got)
	}
	h.section(2, 0, 2, 1050, 10, 1, true) // after the lease ran out
	// The killed holder's write may have landed unreported: the store may
	// hold one more than the accepted writes.
	if r := h.c.Report(2); len(r.Violations) != 0 || r.KilledInside != 1 {
		t.Fatalf("a killed holder followed by a new one:\n%s", r)
	}

	h2 := newHistory()
	h2.c.Record(chaos.Event{Kind: chaos.Enter, Proc: 1, G: 0, Token: 1, At: h2.at(0)})
	h2.section(2, 0, 2, 30, 10, 1, true)
	h2.c.Killed(1, h2.base.Add(50*time.Millisecond))
	wantViolation(t, h2.c.Report(1), "overlap: proc 2 goroutine 0 entered with token 2")
}

func TestCheckerFlagsASectionThatNeverEnded(t *testing.T) {
	h := newHistory()
	h.c.Record(chaos.Event{Kind: chaos.Enter, Proc: 1, G: 0, Token: 1, At: h.at(0)})
	wantViolation(t, h.c.Report(0), "proc 1 goroutine 0 never left its section")
}

func TestCheckerFlagsASectionBegunWithoutAMajority(t *testing.T) {
	h := newHistory()
	h.c.NoMajority(h.base.Add(100*time.Millisecond), h.base.Add(200*time.Millisecond))
	h.section(1, 0, 1, 0, 10, 1, true)
	h.section(1, 0, 2, 150, 10, 2, true)
	h.section(1, 0, 3, 250, 10, 3, true)
	r := h.c.Report(3)
	wantViolation(t, r, "entered with token 2")
	if len(r.Violations) != 1 {
		t.Fatalf("only the section inside the window is a violation:\n%s", r)
	}
}

// TestCheckerExcusesASectionAskedForBeforeTheWindow: a section reported
// inside a no-majority window whose command was sent before the window
// began may have been granted before it (the process was slow to report);
// one sent inside the window was granted inside it.
func TestCheckerExcusesASectionAskedForBeforeTheWindow(t *testing.T) {
	h := newHistory()
	h.c.NoMajority(h.base.Add(100*time.Millisecond), h.base.Add(400*time.Millisecond))
	enter := func(g int, token uint64, asked, at int) {
		h.c.Record(chaos.Event{Kind: chaos.Enter, Proc: 1, G: g, Token: token, Asked: h.at(asked), At: h.at(at)})
		h.c.Record(chaos.Event{Kind: chaos.Exit, Proc: 1, G: g, Token: token, At: h.at(at + 10)})
	}
	enter(0, 1, 90, 150)  // asked before the window, reported inside it
	enter(0, 2, 200, 250) // asked and reported inside the window
	r := h.c.Report(0)
	wantViolation(t, r, "entered with token 2")
	if len(r.Violations) != 1 {
		t.Fatalf("only the section asked for inside the window is a violation:\n%s", r)
	}
}
