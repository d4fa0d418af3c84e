package redis

import (
	"testing"
	"time"
)

// A Redlock waiter shares one wake channel between its places in every
// node's queue. A place that leaves (its node's subscription failed, say)
// must leave a wake-up that another node delivered: taking it once made a
// waiter sleep through the release it was told of.
func TestLeavingOneQueueKeepsAWakeUpOfASharedChannel(t *testing.T) {
	ws := newWaiters(nil, "self:", time.Second)
	ws.queues["c"] = &queue{ready: make(chan struct{})}
	wake := make(chan struct{}, 1)
	w, ok, err := ws.joinSubscribedShared("c", wake)
	if !ok || err != nil {
		t.Fatalf("joinSubscribedShared = %v, %v; want queued", ok, err)
	}
	wake <- struct{}{} // another node's announcement
	ws.mu.Lock()
	pending := ws.removeLocked(w)
	ws.mu.Unlock()
	if pending {
		t.Fatal("removeLocked took a shared wake-up (pending = true)")
	}
	select {
	case <-wake:
	default:
		t.Fatal("the shared wake channel lost its wake-up when one place left")
	}
}

// A waiter of its own (single-node) that leaves with an unconsumed wake-up
// reports it, so that leave hands it on to the new head.
func TestLeavingWithAnOwnWakeUpReportsIt(t *testing.T) {
	ws := newWaiters(nil, "self:", time.Second)
	q := &queue{ready: make(chan struct{})}
	ws.queues["c"] = q
	first := &waiter{channel: "c", wake: make(chan struct{}, 1)}
	second := &waiter{channel: "c", wake: make(chan struct{}, 1)}
	for _, w := range []*waiter{first, second} {
		if ok, err := ws.joinSubscribedWaiter(w); !ok || err != nil {
			t.Fatalf("joinSubscribedWaiter = %v, %v", ok, err)
		}
	}
	poke(first)
	ws.leave(first, false)
	select {
	case <-second.wake:
	default:
		t.Fatal("the wake-up of the head that gave up did not reach the next waiter")
	}
}
