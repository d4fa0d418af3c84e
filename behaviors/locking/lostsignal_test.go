package locking_test

import (
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// TestLostSignalFiresOnceForChannelsAndCallbacks: a channel taken before
// or after Fire is closed, a callback registered before or after runs once,
// a stopped one never, and a second Fire does nothing.
func TestLostSignalFiresOnceForChannelsAndCallbacks(t *testing.T) {
	var s locking.LostSignal
	before := s.Channel()
	ran := make(chan string, 4)
	stopKept := s.AfterLost(func() { ran <- "kept" })
	stopped := s.AfterLost(func() { ran <- "stopped" })
	if !stopped() {
		t.Fatal("stop before Fire reported false")
	}
	if s.Fired() {
		t.Fatal("Fired before Fire")
	}
	select {
	case <-before:
		t.Fatal("channel closed before Fire")
	default:
	}
	s.Fire()
	s.Fire()
	if !s.Fired() {
		t.Fatal("not Fired after Fire")
	}
	<-before
	<-s.Channel()
	if stopKept() {
		t.Fatal("stop after Fire reported true")
	}
	s.AfterLost(func() { ran <- "late" })
	got := map[string]int{}
	for range 2 {
		select {
		case name := <-ran:
			got[name]++
		case <-time.After(10 * time.Second):
			t.Fatalf("callbacks seen: %v", got)
		}
	}
	if got["kept"] != 1 || got["late"] != 1 {
		t.Fatalf("callbacks seen: %v, want kept and late once each", got)
	}
	select {
	case name := <-ran:
		t.Fatalf("unexpected callback %q", name)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestLostSignalChannelMadeAfterFireIsClosed: the channel is made lazily,
// and one made after Fire is already closed.
func TestLostSignalChannelMadeAfterFireIsClosed(t *testing.T) {
	var s locking.LostSignal
	s.Fire()
	select {
	case <-s.Channel():
	default:
		t.Fatal("channel made after Fire is open")
	}
}
