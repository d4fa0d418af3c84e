package postgres

import "sync"

// lostSignal tells that a held lock's session is gone, in the two ways the
// locking behavior and users watch it: a channel that closes (the Handle's
// Lost) and callbacks (AfterLost, locking.LostNotifier).
type lostSignal struct {
	ch chan struct{}

	mu        sync.Mutex
	fired     bool
	callbacks []*lostCallback
}

// lostCallback is one AfterLost registration; its address identifies it.
type lostCallback struct{ f func() }

func (s *lostSignal) init() { s.ch = make(chan struct{}) }

// fire closes the channel and starts every registered callback on a
// goroutine of its own. Only the first call does anything.
func (s *lostSignal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		return
	}
	s.fired = true
	close(s.ch)
	for _, cb := range s.callbacks {
		go cb.f()
	}
	s.callbacks = nil
}

// afterLost arranges for f to run on a goroutine of its own once the signal
// fires (at once if it has); stop unregisters f and reports whether it did
// so before f was started, as with context.AfterFunc.
func (s *lostSignal) afterLost(f func()) (stop func() bool) {
	cb := &lostCallback{f: f}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		go f()
		return func() bool { return false }
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
