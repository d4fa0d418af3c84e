package locking

import (
	"context"
	"sync"
	"testing"
	"time"
)

type releaseValueKey struct{}

// The release context costs nothing until a provider asks for its deadline;
// then every question, from any goroutine, gets the same deadline, about
// ReleaseTimeout ahead, and the caller's values stay visible.
func TestReleaseContextStartsItsDeadlineAtTheFirstQuestion(t *testing.T) {
	c := &releaseContext{values: context.WithValue(context.Background(), releaseValueKey{}, "v")}
	if err := c.Err(); err != nil {
		t.Fatalf("Err before any question = %v, want nil", err)
	}
	if c.clock.timing.Load() != nil {
		t.Fatal("timing set up before anyone asked")
	}
	before := time.Now()
	var wg sync.WaitGroup
	deadlines := make([]time.Time, 8)
	for i := range deadlines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadlines[i], _ = c.Deadline()
		}()
	}
	wg.Wait()
	for _, d := range deadlines[1:] {
		if !d.Equal(deadlines[0]) {
			t.Fatalf("deadlines differ: %v and %v", deadlines[0], d)
		}
	}
	if ahead := deadlines[0].Sub(before); ahead < ReleaseTimeout-time.Second || ahead > ReleaseTimeout+time.Second {
		t.Fatalf("deadline %v ahead, want about %v", ahead, ReleaseTimeout)
	}
	select {
	case <-c.Done():
		t.Fatal("Done closed long before the deadline")
	default:
	}
	if err := c.Err(); err != nil {
		t.Fatalf("Err before the deadline = %v", err)
	}
	if v := c.Value(releaseValueKey{}); v != "v" {
		t.Fatalf("Value = %v, want the caller's", v)
	}
	c.stop()
}

// Once the deadline has passed, Err reports it and Done is closed, whether
// Done was asked for before or after.
func TestReleaseContextExpires(t *testing.T) {
	for _, doneFirst := range []bool{true, false} {
		c := &releaseContext{values: context.Background()}
		c.clock.timed().deadline = clock() // as if ReleaseTimeout had passed
		var done <-chan struct{}
		if doneFirst {
			done = c.Done()
		}
		if err := c.Err(); err != context.DeadlineExceeded {
			t.Fatalf("doneFirst=%v: Err = %v, want DeadlineExceeded", doneFirst, err)
		}
		if !doneFirst {
			done = c.Done()
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("doneFirst=%v: Done not closed after the deadline", doneFirst)
		}
		c.stop()
	}
}
