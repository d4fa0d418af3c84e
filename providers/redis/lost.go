package redis

import "sync"

// lostSignal tells that a lease can no longer be vouched for, in the two
// ways the locking behavior and users watch it: a channel that closes (the
// Handle's Lost) and callbacks (AfterLost, locking.LostNotifier), which let
// the behavior watch a held lock without a goroutine of its own. Both handle
// kinds embed one.
type lostSignal struct {
	mu        sync.Mutex
	ch        chan struct{} // made by the first channel call: most leases are never watched through it
	fired     bool
	callbacks []*lostCallback
	inline    [1]*lostCallback // callbacks' first backing array: one watcher costs no slice
}

// lostCallback is one AfterLost registration; its address identifies it.
type lostCallback struct{ f func() }

// channel returns the channel that fire closes, made on first use (closed
// at once if the signal has fired).
func (s *lostSignal) channel() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
		if s.fired {
			close(s.ch)
		}
	}
	return s.ch
}

// fire closes the channel and starts every registered callback, each on a
// goroutine of its own. Only the first call does anything.
func (s *lostSignal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		return
	}
	s.fired = true
	if s.ch != nil {
		close(s.ch)
	}
	for _, cb := range s.callbacks {
		go cb.f()
	}
	s.callbacks = nil
}

// afterLost arranges for f to run, on a goroutine of its own, once the
// signal fires (at once if it has); stop unregisters f and reports whether
// it did so before f was started, as with context.AfterFunc.
func (s *lostSignal) afterLost(f func()) (stop func() bool) {
	cb := &lostCallback{f: f}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		go f()
		return func() bool { return false }
	}
	if s.callbacks == nil {
		s.callbacks = s.inline[:0]
	}
	s.callbacks = append(s.callbacks, cb)
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, c := range s.callbacks {
			if c == cb {
				s.callbacks = append(s.callbacks[:i], s.callbacks[i+1:]...)
				return true
			}
		}
		return false
	}
}
